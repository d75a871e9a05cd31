"""``dokportal scan``: the virus scan's backlog (files/scanning.py)."""

from __future__ import annotations

import asyncio

import click


@click.group()
def scan() -> None:
    """Virus scanning with clamd: counts, and files to (re)scan."""


@scan.command("status")
def status() -> None:
    """How many stored files are in each scan state."""
    from dokportal.cli_staff import _setup
    from dokportal.files import scanning

    _setup()
    for state, count in asyncio.run(scanning.counts()).items():
        click.echo(f"{state}: {count}")


@scan.command("queue")
@click.option("--unscanned", is_flag=True, help="Files stored while no scanner was configured.")
@click.option(
    "--failed",
    is_flag=True,
    help="Files clamd could not check (state 'error'), e.g. after raising its StreamMaxLength.",
)
def queue(unscanned: bool, failed: bool) -> None:
    """Mark files 'pending' so the worker scans them; they cannot be opened until it has."""
    from dokportal.cli_staff import _setup
    from dokportal.files import scanning

    settings = _setup()
    if not settings.scan.enabled:
        raise click.ClickException("set DOKPORTAL_SCAN__CLAMD first: nothing would scan them")
    states = [s for s, chosen in (("unscanned", unscanned), ("error", failed)) if chosen]
    if not states:
        raise click.UsageError("choose --unscanned and/or --failed")
    queued = asyncio.run(scanning.queue(states))
    click.echo(f"{queued} files queued; the worker scans them in its next rounds")
