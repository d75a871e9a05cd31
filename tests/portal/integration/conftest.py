"""Real storage back ends: a fresh store per test (SeaweedFS comes from tests/conftest.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from dokportal.storage import BlobStore, FolderBlobStore, S3BlobStore
from tests.support.seaweed import SeaweedS3


@pytest.fixture
def s3_bucket(seaweed: SeaweedS3) -> Iterator[str]:
    """A fresh, empty bucket, deleted with everything in it afterwards."""
    bucket = f"test-{secrets.token_hex(8)}"
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    yield bucket
    client.delete_bucket(Bucket=bucket)  # SeaweedFS deletes non-empty buckets


@pytest.fixture(params=["folder", pytest.param("s3", marks=pytest.mark.s3)])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each storage test runs against both back ends."""
    if request.param == "folder":
        root = tmp_path / "blobs"
        root.mkdir(mode=0o700)
        return FolderBlobStore(root)
    server: SeaweedS3 = request.getfixturevalue("seaweed")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3BlobStore(server.endpoint_url, bucket, server.access_key, server.secret_key)
