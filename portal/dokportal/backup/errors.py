"""The one error a backup command reports to its user (exit status 1, message as given)."""


class BackupError(Exception):
    """Something is wrong with a backup, its target or the passphrase; the text says what."""
