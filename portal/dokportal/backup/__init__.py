"""Back up and restore one tenant: database, blobs and the keyring (sealed with a passphrase).

Layout of a backup target folder (see docs/operations.md, "Backup and restore")::

    target/blobs/<id[:2]>/<id>            every blob ever backed up, still encrypted; shared
                                          by all snapshots, so a second backup copies only
                                          blobs it has not seen (incremental by blob id)
    target/snapshots/<snapshot>/
        manifest.json                     format, tenant, time, counts, digests
        database.sqlite3 | database.pgdump
        keyring.sealed                    the keyring, scrypt + AES-256-GCM under a passphrase
"""

from dokportal.backup.errors import BackupError
from dokportal.backup.run import (
    BackupReport,
    RestoreReport,
    make_backup,
    restore_backup,
    verify_backup,
)
from dokportal.backup.verify import VerifyReport

__all__ = [
    "BackupError",
    "BackupReport",
    "RestoreReport",
    "VerifyReport",
    "make_backup",
    "restore_backup",
    "verify_backup",
]
