"""Choose the blob store named in the settings."""

from __future__ import annotations

from dokportal.settings import StorageSettings
from dokportal.storage.base import BlobStore
from dokportal.storage.folder import FolderBlobStore
from dokportal.storage.s3 import S3BlobStore


def build_store(settings: StorageSettings) -> BlobStore:
    if settings.kind == "s3":
        return S3BlobStore(
            endpoint_url=settings.s3_endpoint,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            path_style=settings.s3_path_style,
        )
    return FolderBlobStore(settings.folder)
