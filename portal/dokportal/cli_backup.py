"""``dokportal backup``, ``dokportal backup verify`` and ``dokportal restore``.

The passphrase that seals the keyring comes from DOKPORTAL_BACKUP_PASSPHRASE or a prompt,
never from a command-line argument (it would show in ``ps`` and shell history).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from dokportal.storage.errors import StorageError

PASSPHRASE_ENV = "DOKPORTAL_BACKUP_PASSPHRASE"  # noqa: S105 - the name, not a secret


def _passphrase(confirm: bool) -> str:
    import os

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    return str(
        click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    )


@click.group("backup", invoke_without_command=True)
@click.option(
    "--to",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Backup folder (a mounted volume); later backups into it copy only new blobs.",
)
@click.pass_context
def backup(ctx: click.Context, target: Path | None) -> None:
    """Back up this tenant: database, blobs and the keyring sealed with a passphrase."""
    if ctx.invoked_subcommand is not None:
        return
    if target is None:
        raise click.UsageError("give --to FOLDER")
    from dokportal.backup import BackupError, make_backup
    from dokportal.cli import load_settings

    settings = load_settings()
    try:
        report = asyncio.run(make_backup(settings, target, _passphrase(confirm=True)))
    except (BackupError, StorageError) as error:
        raise click.ClickException(str(error)) from error
    counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    click.echo(f"snapshot {report.snapshot} written to {report.folder}")
    click.echo(
        f"blobs: {report.blobs_referenced} referenced, {report.blobs_copied} copied, "
        f"{report.blobs_referenced - report.blobs_copied} already in the backup"
    )
    click.echo(f"rows: {counts}")


@backup.command("verify")
@click.argument("target", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--snapshot", default=None, help="Snapshot name (default: the latest).")
@click.option("--sample", default=20, show_default=True, help="Files to decrypt (0 = all).")
@click.option(
    "--scratch-database-url",
    envvar="DOKPORTAL_BACKUP_SCRATCH_DATABASE_URL",
    default=None,
    help="An empty PostgreSQL database to load a PostgreSQL backup into for the check.",
)
def backup_verify(
    target: Path, snapshot: str | None, sample: int, scratch_database_url: str | None
) -> None:
    """Check a backup: digests, every referenced blob present, a sample of files decrypted
    against their SHA-256, the audit chain. Exit 1 on any problem."""
    from dokportal.backup import BackupError, verify_backup

    try:
        manifest, report = asyncio.run(
            verify_backup(
                target,
                _passphrase(confirm=False),
                snapshot=snapshot,
                sample=sample,
                scratch_database_url=scratch_database_url,
            )
        )
    except (BackupError, StorageError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"snapshot {manifest['snapshot']} of tenant {manifest['tenant']}: "
        f"{report.referenced} blobs referenced, {report.decrypted} files decrypted and "
        f"matching their SHA-256, audit chain of {report.audit_events} events checked"
    )
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("backup OK")


@click.command("restore")
@click.argument("target", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--snapshot", default=None, help="Snapshot name (default: the latest).")
def restore(target: Path, snapshot: str | None) -> None:
    """Restore a backup into this fresh instance (empty database and blob store, no keyring
    file yet), then check it like ``backup verify``."""
    from dokportal.backup import BackupError, restore_backup
    from dokportal.cli import load_settings

    settings = load_settings()
    try:
        report = asyncio.run(
            restore_backup(settings, target, _passphrase(confirm=False), snapshot=snapshot)
        )
    except (BackupError, StorageError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"restored snapshot {report.snapshot}: {report.blobs} blobs, keyring at "
        f"{settings.keyring_path}; {report.verify.decrypted} files decrypted and matching, "
        f"audit chain of {report.verify.audit_events} events intact"
    )
    for problem in report.verify.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    if not report.verify.ok:
        sys.exit(1)
    click.echo(f"recovery time: {report.seconds:.1f} s")
