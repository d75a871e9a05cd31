"""The storage error tree.

Callers map `StorageUnavailable` to 503 (retry later, nothing was acknowledged) and
`BlobNotFound` to 404; a plain `StorageError` is a bug or an unexpected backend answer.
"""


class StorageError(Exception):
    """Base class of every error raised by `dokportal.storage`."""


class StorageUnavailable(StorageError):
    """The backend cannot be used right now: down, full, misconfigured, bad credentials.

    The message says precisely what is wrong (for the operator's logs and readiness
    probe), never a secret.
    """


class BlobNotFound(StorageError):
    """No committed blob has this id."""


class InvalidBlobId(StorageError, ValueError):
    """A blob id does not match ``[a-z0-9-]{8,64}``: rejected before any I/O."""
