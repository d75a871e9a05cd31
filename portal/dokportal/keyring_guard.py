"""Start-up checks that keep the keyring and the data it unlocks together.

A keyring created beside a database full of secrets wrapped with another keyring reads
nothing: every document answers an error, every caseworker is locked out, and the new key
hides the real problem (a lost or unmounted keyring). So a new keyring is only ever made for
an empty database, and a missing one is reported with the key ids that must be restored.
A keyring readable by other users is as good as a leaked one: refused unless the operator
says otherwise (Kubernetes' ``fsGroup`` makes mounted Secrets group-readable).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from dokportal.crypto import Keyring, KeyringError
from dokportal.settings import Settings

log = logging.getLogger("dokportal.keyring")


def check_permissions(path: Path, *, allow_shared: bool) -> None:
    """Refuse a keyring that users other than its owner can read, unless allowed (then warn)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return  # reported by whoever needs the file
    shared = mode & (stat.S_IRWXG | stat.S_IRWXO)
    if not shared:
        return
    readable_by = "others" if mode & stat.S_IRWXO else "its group"
    if not allow_shared:
        raise KeyringError(
            f"keyring file {path} is readable by {readable_by} (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`, or set DOKPORTAL_KEYRING_ALLOW_SHARED=true if that is "
            "intended (a Kubernetes Secret mounted with fsGroup)"
        )
    log.warning(
        "keyring file %s is readable by %s (mode %04o); allowed by DOKPORTAL_KEYRING_ALLOW_SHARED",
        path,
        readable_by,
        stat.S_IMODE(mode),
    )


async def keyring_for_data(settings: Settings, *, create: bool) -> tuple[Keyring, bool]:
    """The keyring the database's wrapped secrets need; the database must be configured.

    A missing keyring file is created (``create``) only if nothing stored is wrapped yet;
    otherwise `KeyringError` names the key ids to restore. Returns (keyring, created).
    """
    from dokportal.wrapped_secrets import missing_key_ids

    path = settings.keyring_path
    if not path.exists():
        needed = await missing_key_ids(None)
        if needed:
            raise KeyringError(
                f"keyring file {path} does not exist, but the database holds data wrapped with "
                f"key(s) {', '.join(needed)}; restore that keyring from its backup "
                "(a new keyring could not read any of it)"
            )
        if not create:
            raise KeyringError(f"keyring file {path} does not exist")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        Keyring.generate().save(path)
        return Keyring.load(path), True
    check_permissions(path, allow_shared=settings.keyring_allow_shared)
    keyring = Keyring.load(path)
    missing = await missing_key_ids(keyring)
    if missing:
        # Not fatal: the rest of the data is readable, and /readyz reports it until fixed.
        log.error(
            "the keyring %s lacks key(s) %s that stored data is wrapped with; "
            "those files and sign-ins fail until the keyring is restored",
            path,
            ", ".join(missing),
        )
    return keyring, False
