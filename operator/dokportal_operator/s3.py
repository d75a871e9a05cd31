"""The tenant's S3 bucket: create it if missing, prove the credentials can write and read it,
empty and remove it on deletion. boto3 is synchronous, so every call runs in a thread.

Problems come back as `StorageProblem` with a precise reason for StorageReady; messages name
the endpoint and bucket, never a key.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROBE_KEY = ".dokportal-probe"
MARKER_KEY = ".dokportal-owner"


@dataclass(frozen=True)
class Owner:
    """Who may use the bucket, and what the Portal's status remembers of it.

    `marker`: the marker id the status recorded ("" — this Portal never marked a bucket);
    `accept_loss`: a person accepted that the bucket with that marker id is lost;
    `adopt_uid`: a bucket marked by this (deleted) Portal may be taken over — the Portal
    restores that Portal's retained keyring; `adopt_unmarked`: a bucket without a marker may
    be taken over even if it holds objects (made by an operator before markers, or named by
    the retained keyring being restored)."""

    name: str
    uid: str
    marker: str = ""
    accept_loss: str = ""
    adopt_uid: str = ""
    adopt_unmarked: bool = False

    @property
    def knows_bucket(self) -> bool:
        return bool(self.marker) and self.accept_loss != self.marker


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    region: str
    bucket: str
    path_style: bool
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)


class StorageProblem(Exception):
    """Why the bucket is not usable. `human`: only a person can fix it (Stalled)."""

    def __init__(self, reason: str, message: str, *, human: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.human = human


# S3 error codes → (StorageReady reason, what to tell county IT, needs a human).
_CODES: dict[str, tuple[str, str, bool]] = {
    "InvalidAccessKeyId": ("InvalidAccessKey", "the S3 server does not know this access key", True),
    "SignatureDoesNotMatch": (
        "InvalidSecretKey",
        "the S3 server rejected the secret key (signature does not match)",
        True,
    ),
    "AccessDenied": ("AccessDenied", "the credentials are valid but may not use this bucket", True),
    "AllAccessDisabled": ("AccessDenied", "access to this bucket is disabled", True),
    "InvalidBucketName": ("InvalidBucketName", "the S3 server rejects this bucket name", True),
    "BucketAlreadyExists": (
        "BucketTakenByOther",
        "the bucket name belongs to someone else; choose another storage.s3.bucket",
        True,
    ),
}


def _client(target: S3Target) -> S3Client:
    with _clients_lock:  # threads asking at once for a new client make it once
        return _client_for(
            target.endpoint, target.region, target.path_style, target.access_key, target.secret_key
        )


_clients_lock = threading.Lock()


@functools.lru_cache(maxsize=32)
def _client_for(
    endpoint: str, region: str, path_style: bool, access_key: str, secret_key: str
) -> S3Client:
    """One client per endpoint and credentials, kept (all tenants on one S3 account share
    it): making a client loads botocore's service model, ~0.2 s of CPU — with 100 new Portals
    that was half of the operator's CPU time. boto3 clients are thread-safe; a changed key or
    endpoint makes another client."""
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path" if path_style else "virtual"},
            connect_timeout=3,
            read_timeout=15,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    )
    return client


def _problem(error: Exception, target: S3Target, action: str) -> StorageProblem:
    where = f"{target.endpoint} bucket {target.bucket}"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return StorageProblem(
            "EndpointUnreachable", f"cannot reach the S3 endpoint {target.endpoint}", human=False
        )
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _CODES:
            reason, text, human = _CODES[code]
            return StorageProblem(reason, f"{text} ({where})", human=human)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status == 403:
            return StorageProblem(
                "AccessDenied", f"access denied while {action} ({where})", human=True
            )
        return StorageProblem(
            "S3Error", f"S3 error {code or status} while {action} ({where})", human=False
        )
    return StorageProblem(
        "S3Error", f"S3 failure while {action} ({where}): {type(error).__name__}", human=False
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _read_marker(client: S3Client, bucket: str) -> dict[str, Any] | None:
    try:
        raw = client.get_object(Bucket=bucket, Key=MARKER_KEY)["Body"].read()
    except ClientError as error:
        if _code(error) in {"NoSuchKey", "404"}:
            return None
        raise
    try:
        document = json.loads(raw)
    except ValueError:
        return {"uid": "", "portal": "unknown (unreadable marker)"}
    return document if isinstance(document, dict) else {"uid": "", "portal": "unknown"}


def _write_marker(client: S3Client, bucket: str, owner: Owner) -> str:
    marker_id = secrets.token_hex(8)
    body = json.dumps({"portal": owner.name, "uid": owner.uid, "id": marker_id}).encode()
    client.put_object(Bucket=bucket, Key=MARKER_KEY, Body=body)
    return marker_id


def _lost(target: S3Target, owner: Owner, what: str) -> StorageProblem:
    return StorageProblem(
        "BucketLost",
        f"bucket {target.bucket} at {target.endpoint} (marker {owner.marker}) {what}: the "
        "documents it held are not there. It is never made again empty. Restore the bucket "
        "with its objects (including the marker object "
        f"{MARKER_KEY}) from backup; or, to start over with an empty bucket and lose what "
        f"it held: kubectl annotate portal {owner.name} --overwrite "
        f"dokportal.dev/accept-bucket-loss={owner.marker}",
        human=True,
    )


def _ensure(target: S3Target, owner: Owner) -> str:
    """Check (or make) the bucket and its owner marker; returns the marker id."""
    client = _client(target)
    action = "looking at the bucket"
    try:
        listing: dict[str, Any] | None
        try:
            listing = dict(client.list_objects_v2(Bucket=target.bucket, MaxKeys=3))
        except ClientError as error:
            if _code(error) != "NoSuchBucket":
                raise
            listing = None
        if listing is None:
            if owner.knows_bucket:
                raise _lost(target, owner, "no longer exists")
            action = "creating the bucket"
            options: dict[str, Any] = {}
            if target.region and target.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": target.region}
            try:
                client.create_bucket(Bucket=target.bucket, **options)
            except ClientError as create_error:
                if _code(create_error) != "BucketAlreadyOwnedByYou":
                    raise
            action = "writing the owner marker"
            marker_id = _write_marker(client, target.bucket, owner)
        else:
            action = "reading the owner marker"
            marker = _read_marker(client, target.bucket)
            if marker is None:
                if owner.knows_bucket:
                    raise _lost(target, owner, f"has lost its marker object {MARKER_KEY}")
                foreign = [
                    item["Key"]
                    for item in listing.get("Contents") or []
                    if item["Key"] not in {PROBE_KEY, MARKER_KEY}
                ]
                if foreign and not owner.adopt_unmarked:
                    raise StorageProblem(
                        "BucketNotEmpty",
                        f"bucket {target.bucket} at {target.endpoint} already holds objects "
                        "that this Portal did not make (and no owner marker): it is not "
                        "taken over. Name an empty bucket, or restore the keyring of the "
                        "Portal that made it (spec.encryption.restoreFrom, a retained copy "
                        "whose annotation names this bucket)",
                        human=True,
                    )
                action = "writing the owner marker"
                marker_id = _write_marker(client, target.bucket, owner)
            elif marker.get("uid") != owner.uid:
                if owner.adopt_uid and marker.get("uid") == owner.adopt_uid:
                    action = "taking over the owner marker"
                    marker_id = _write_marker(client, target.bucket, owner)
                else:
                    raise StorageProblem(
                        "BucketTaken",
                        f"bucket {target.bucket} at {target.endpoint} belongs to Portal "
                        f"{marker.get('portal')} (uid {marker.get('uid')}): it is not shared. "
                        "Name another bucket (storage.s3.bucket) or leave it out",
                        human=True,
                    )
            else:
                marker_id = str(marker.get("id") or "")
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, target, action) from None
    _probe(target)
    return marker_id


def _probe(target: S3Target) -> None:
    """Write, read back and remove a probe object with the target's credentials."""
    client = _client(target)
    action = "writing a probe object"
    try:
        client.put_object(Bucket=target.bucket, Key=PROBE_KEY, Body=b"dokportal")
        action = "reading the probe object"
        body = client.get_object(Bucket=target.bucket, Key=PROBE_KEY)["Body"].read()
        if body != b"dokportal":
            raise StorageProblem(
                "ProbeMismatch",
                f"the probe object read back differently ({target.bucket})",
                human=True,
            )
        action = "removing the probe object"
        client.delete_object(Bucket=target.bucket, Key=PROBE_KEY)
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, target, action) from None


def _delete(target: S3Target, uid: str) -> str:
    """Empty and remove the bucket if its marker names `uid`: "removed", "gone" or why not."""
    client = _client(target)
    try:
        try:
            client.list_objects_v2(Bucket=target.bucket, MaxKeys=1)
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                return "gone"
            raise
        marker = _read_marker(client, target.bucket)
        if marker is None or marker.get("uid") != uid:
            owner = (
                "has no owner marker"
                if marker is None
                else (f"belongs to Portal {marker.get('portal')} (uid {marker.get('uid')})")
            )
            return f"left alone: it {owner}"
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=target.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=target.bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
        client.delete_bucket(Bucket=target.bucket)
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, target, "emptying and removing the bucket") from None
    return "removed"


async def ensure_bucket(target: S3Target, owner: Owner) -> str:
    """Create the bucket if missing (never one the status says existed), check its owner
    marker, prove read and write; returns the marker id."""
    return await asyncio.to_thread(_ensure, target, owner)


async def probe(target: S3Target) -> None:
    """Prove the target's credentials can write, read and delete in its bucket."""
    await asyncio.to_thread(_probe, target)


async def delete_bucket(target: S3Target, uid: str) -> str:
    """Empty and remove the bucket, only if its marker names `uid`."""
    return await asyncio.to_thread(_delete, target, uid)
