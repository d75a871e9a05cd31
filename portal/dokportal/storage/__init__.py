"""Blob storage: one `BlobStore` protocol, a local-folder and an S3 implementation.

Import from here, not from the submodules: this is the package's public surface.
"""

from dokportal.storage.base import (
    BlobInfo,
    BlobStore,
    BlobWriter,
    new_blob_id,
    validate_blob_id,
    write_blob,
)
from dokportal.storage.errors import (
    BlobNotFound,
    InvalidBlobId,
    StorageError,
    StorageUnavailable,
)
from dokportal.storage.folder import FolderBlobStore, FolderBlobWriter
from dokportal.storage.s3 import S3BlobStore
from dokportal.storage.s3_writer import S3BlobWriter

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobWriter",
    "FolderBlobStore",
    "FolderBlobWriter",
    "InvalidBlobId",
    "S3BlobStore",
    "S3BlobWriter",
    "StorageError",
    "StorageUnavailable",
    "new_blob_id",
    "validate_blob_id",
    "write_blob",
]
