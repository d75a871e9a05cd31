"""Each tenant's own S3 identity, made through the S3 service's IAM API (SeaweedFS serves it
on its S3 port, MinIO and AWS have it) with the admin credential the operator keeps to itself.

The identity is a user `dokportal-<portal>-<uid8>` with one inline policy allowing the object
actions on the tenant's bucket and nothing else; its access keys are the only S3 keys a
tenant's pods ever hold. boto3 is synchronous, so every call runs in a thread. Problems come
back as `s3.StorageProblem`; messages name the user and endpoint, never a key.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from dokportal_operator.s3 import S3Target, StorageProblem

POLICY_NAME = "dokportal-bucket"
# What the portal does with its bucket (documents, multipart uploads, the operator's probe and
# marker) — no bucket creation or deletion, no other bucket, no IAM. SeaweedFS 4.48 knows
# these names (it refuses `s3:ListBucketMultipartUploads`; its `s3:ListBucket` covers listing
# uploads too).
BUCKET_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:AbortMultipartUpload",
    "s3:ListParts",
    "s3:GetBucketLocation",
)


@dataclass(frozen=True)
class TenantKeys:
    """The tenant's access key pair and the user it belongs to."""

    user: str
    access_key: str
    secret_key: str = field(repr=False)


def user_name(portal: str, uid: str) -> str:
    """At most 64 characters (AWS's limit), unique per Portal object."""
    return f"dokportal-{portal[:44]}-{uid[:8]}"


def policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": list(BUCKET_ACTIONS),
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        },
        sort_keys=True,
    )


_clients_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _client_for(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """Kept per endpoint and admin key, like the S3 clients (making one costs ~0.2 s CPU)."""
    return boto3.session.Session().client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            connect_timeout=3,
            read_timeout=15,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    )


def _client(admin: S3Target) -> Any:
    with _clients_lock:
        return _client_for(admin.endpoint, admin.region, admin.access_key, admin.secret_key)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _problem(error: Exception, admin: S3Target, user: str, action: str) -> StorageProblem:
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return StorageProblem(
            "EndpointUnreachable", f"cannot reach the S3 endpoint {admin.endpoint}", human=False
        )
    code = _code(error) if isinstance(error, ClientError) else type(error).__name__
    # Whatever the IAM API answers (no IAM API, IAM writes disabled, the admin key may not
    # manage users): the admin keys are never handed to the tenant instead.
    return StorageProblem(
        "IdentityUnsupported",
        f"the S3 service at {admin.endpoint} did not let the operator {action} for the "
        f"tenant's identity {user} ({code or 'error'}). The admin credentials are never given "
        "to a tenant: enable the IAM API for the admin key of storage.s3.credentialsSecret "
        "(SeaweedFS: weed s3 -iam.readOnly=false), or set storage.s3.identity: static and "
        "name a credentials Secret made for this tenant only (see docs/operator.md)",
        human=True,
    )


def _ensure(
    admin: S3Target, user: str, current: str, rotate: bool
) -> tuple[TenantKeys | None, tuple[str, ...]]:
    """Make the user and its policy; a new key unless `current` is one of its keys and no
    rotation is asked. Returns (new keys or None, the user's other access key ids)."""
    client = _client(admin)
    action = "look up the user"
    try:
        try:
            client.get_user(UserName=user)
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
            action = "create the user"
            client.create_user(UserName=user)
        action = "set the bucket policy"
        client.put_user_policy(
            UserName=user, PolicyName=POLICY_NAME, PolicyDocument=policy(admin.bucket)
        )
        action = "list the access keys"
        listed = client.list_access_keys(UserName=user).get("AccessKeyMetadata") or []
        ids = [str(item["AccessKeyId"]) for item in listed]
        if current in ids and not rotate:
            return None, tuple(key for key in ids if key != current)
        action = "create an access key"
        made = client.create_access_key(UserName=user)["AccessKey"]
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, admin, user, action) from None
    keys = TenantKeys(user, str(made["AccessKeyId"]), str(made["SecretAccessKey"]))
    return keys, tuple(key for key in ids if key != keys.access_key)


def _retire(admin: S3Target, user: str, keep: str) -> list[str]:
    """Delete every access key of the user except `keep`."""
    client = _client(admin)
    removed = []
    try:
        for item in client.list_access_keys(UserName=user).get("AccessKeyMetadata") or []:
            key = str(item["AccessKeyId"])
            if key != keep:
                client.delete_access_key(UserName=user, AccessKeyId=key)
                removed.append(key)
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, admin, user, "remove an old access key") from None
    return removed


def _delete(admin: S3Target, user: str) -> str:
    """Remove the user's policy, keys and the user: "removed" or "gone"."""
    client = _client(admin)
    try:
        try:
            client.get_user(UserName=user)
        except ClientError as error:
            if _code(error) == "NoSuchEntity":
                return "gone"
            raise
        for name in client.list_user_policies(UserName=user).get("PolicyNames") or []:
            client.delete_user_policy(UserName=user, PolicyName=name)
        for item in client.list_access_keys(UserName=user).get("AccessKeyMetadata") or []:
            client.delete_access_key(UserName=user, AccessKeyId=item["AccessKeyId"])
        client.delete_user(UserName=user)
    except (BotoCoreError, ClientError) as error:
        raise _problem(error, admin, user, "remove the user") from None
    return "removed"


async def ensure_identity(
    admin: S3Target, user: str, current: str, rotate: bool
) -> tuple[TenantKeys | None, tuple[str, ...]]:
    """The tenant's user with its bucket policy; new keys when it has none that work (or a
    rotation is asked). `admin.bucket` is the bucket the policy allows."""
    return await asyncio.to_thread(_ensure, admin, user, current, rotate)


async def retire_keys(admin: S3Target, user: str, keep: str) -> list[str]:
    """After the pods rolled to the new key: the old keys stop working."""
    return await asyncio.to_thread(_retire, admin, user, keep)


async def delete_identity(admin: S3Target, user: str) -> str:
    """On deletion (Retain and Delete alike): the tenant's keys stop working."""
    return await asyncio.to_thread(_delete, admin, user)
