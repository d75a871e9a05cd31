"""Where documents go: an S3 bucket (made and checked here) or a PersistentVolumeClaim."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any

from dokportal_operator import constants as c
from dokportal_operator import iam, render, s3
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import ApiError, Ref
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import credentials
from dokportal_operator.spec import PortalSpec


@dataclass(frozen=True)
class Identity:
    """The tenant's own S3 identity (storage.s3.identity: iam), as status.s3Identity keeps it
    (never a secret key), and the admin target that manages it."""

    name: str
    access_key_id: str
    rotation: str = ""  # the rotate-s3-key annotation value handled
    retiring: tuple[str, ...] = ()  # older access keys, removed once the pods rolled
    admin: s3.S3Target | None = field(default=None, repr=False, compare=False)

    def to_status(self) -> dict[str, Any]:
        return {
            "provider": "iam",
            "name": self.name,
            "accessKeyId": self.access_key_id,
            "rotation": self.rotation,
            "retiring": list(self.retiring),
        }

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> Identity:
        raw = status.get("s3Identity") or {}
        return cls(
            name=str(raw.get("name") or ""),
            access_key_id=str(raw.get("accessKeyId") or ""),
            rotation=str(raw.get("rotation") or ""),
            retiring=tuple(str(key) for key in raw.get("retiring") or ()),
        )


@dataclass(frozen=True)
class StorageState:
    condition: Condition
    bucket: str | None
    marker: str = ""  # the id of the bucket's owner marker
    identity: Identity | None = None  # storage.s3.identity: iam


async def ensure(
    ctx: Context,
    spec: PortalSpec,
    owned: Owned,
    status_bucket: str = "",
    recorded: Identity | None = None,
) -> StorageState:
    """`owned`: what the status recorded (a recorded bucket is never made again empty);
    `status_bucket`: status.bucket, which operators before markers recorded; `recorded`:
    status.s3Identity."""
    if spec.s3 is not None:
        return await _ensure_bucket(ctx, spec, owned, status_bucket, recorded or Identity("", ""))
    return StorageState(await ensure_claim(ctx, spec, c.STORAGE_READY), None)


async def _owner(
    ctx: Context, spec: PortalSpec, bucket: str, owned: Owned, legacy: str
) -> s3.Owner:
    recorded = owned.bucket == bucket and owned.bucket_endpoint == (
        spec.s3.endpoint if spec.s3 else ""
    )
    adopt_uid = ""
    adopt_unmarked = legacy == bucket and not owned.bucket
    if spec.restore_from is not None:
        # The retained keyring of a deleted Portal names its bucket: restoring that keyring
        # is what entitles this Portal to take the bucket over.
        source = await ctx.kube.get(
            Ref("Secret", spec.restore_from.name, spec.restore_from.namespace)
        )
        notes = ((source or {}).get("metadata") or {}).get("annotations") or {}
        if notes.get(f"{c.GROUP}/bucket") == bucket:
            adopt_uid = str(notes.get(c.RETAINED_UID_ANNOTATION) or "")
            adopt_unmarked = True
    return s3.Owner(
        name=spec.name,
        uid=spec.uid,
        marker=owned.bucket_marker if recorded else "",
        accept_loss=spec.accept_bucket_loss,
        adopt_uid=adopt_uid,
        adopt_unmarked=adopt_unmarked,
    )


async def _ensure_bucket(
    ctx: Context, spec: PortalSpec, owned: Owned, status_bucket: str, recorded: Identity
) -> StorageState:
    assert spec.s3 is not None
    bucket = render.bucket_name(spec)
    assert bucket is not None
    keys = await credentials.read(
        ctx, spec.s3.credentials, (c.S3_ACCESS_KEY, c.S3_SECRET_KEY), "Credentials", spec.name
    )
    target = s3.S3Target(
        endpoint=spec.s3.endpoint,
        region=spec.s3.region,
        bucket=bucket,
        path_style=spec.s3.path_style,
        access_key=keys[c.S3_ACCESS_KEY],
        secret_key=keys[c.S3_SECRET_KEY],
    )
    digest = credentials.digest(
        target.endpoint,
        target.region,
        bucket,
        str(target.path_style),
        *keys.values(),
        owned.bucket_marker,
        spec.accept_bucket_loss,
        str(spec.restore_from),
    )
    marker = ctx.storage_fresh(spec.uid, digest)
    identity: Identity | None = None
    try:
        if marker is None:
            owner = await _owner(ctx, spec, bucket, owned, status_bucket)
            marker = await s3.ensure_bucket(target, owner)
            ctx.storage_passed(spec.uid, digest, marker)
        if spec.s3.identity == "iam":
            # The admin keys stay next to the operator; the pods get the tenant's own identity.
            identity, keys = await _tenant_identity(ctx, spec, target, recorded, digest)
    except s3.StorageProblem as problem:
        if problem.human:
            raise NeedsHuman(problem.reason, problem.message) from None
        raise Waiting(problem.reason, problem.message, delay=15) from None
    # Only credentials that just worked reach the pods.
    await credentials.copy(ctx, spec, c.S3_SECRET, keys, c.PART_STORAGE)
    return StorageState(
        Condition(
            c.STORAGE_READY,
            True,
            "BucketReady",
            # The same words whether the bucket was just made, checked or trusted from an
            # earlier check: a message that changed would be a status write on every recheck.
            f"bucket {bucket} at {spec.s3.endpoint} is writable and readable",
        ),
        bucket,
        marker,
        identity,
    )


async def _tenant_keys(ctx: Context, spec: PortalSpec) -> tuple[str, str]:
    """The keys the tenant's pods hold now (portal-s3), or empty strings."""
    secret = await ctx.kube.get(Ref("Secret", c.S3_SECRET, spec.namespace))
    data = (secret or {}).get("data") or {}
    try:
        return (
            base64.b64decode(data.get(c.S3_ACCESS_KEY) or "").decode(),
            base64.b64decode(data.get(c.S3_SECRET_KEY) or "").decode(),
        )
    except (binascii.Error, UnicodeDecodeError):
        return "", ""


async def _tenant_identity(
    ctx: Context, spec: PortalSpec, admin: s3.S3Target, recorded: Identity, bucket_digest: str
) -> tuple[Identity, dict[str, str]]:
    """The identity check is remembered like the bucket check (same recheck interval), for
    the same admin inputs, the keys the pods hold and the rotation asked for."""
    current = await _tenant_keys(ctx, spec)
    rotate = bool(spec.rotate_s3_key) and spec.rotate_s3_key != recorded.rotation
    digest = credentials.digest(bucket_digest, *current, str(rotate), recorded.access_key_id)
    cache = f"{spec.uid}/identity"
    if current[0] and ctx.storage_fresh(cache, digest) is not None:
        # Checked recently with these very keys: they are the ones in portal-s3.
        keys = {c.S3_ACCESS_KEY: current[0], c.S3_SECRET_KEY: current[1]}
        return replace(recorded, admin=admin), keys
    identity, keys = await _identity(spec, admin, recorded, current, rotate)
    # Remembered for the keys the pods will hold from now on.
    after = (keys[c.S3_ACCESS_KEY], keys[c.S3_SECRET_KEY])
    ctx.storage_passed(
        cache,
        credentials.digest(bucket_digest, *after, "False", identity.access_key_id),
        "checked",
    )
    return identity, keys


async def _identity(
    spec: PortalSpec,
    admin: s3.S3Target,
    recorded: Identity,
    current: tuple[str, str],
    rotate: bool,
) -> tuple[Identity, dict[str, str]]:
    """The tenant's identity allowed only on its bucket, and the keys its pods get: the ones
    they hold if those still belong to it, else a new pair (proved on the bucket first)."""
    user = recorded.name or iam.user_name(spec.name, spec.uid)
    made, others = await iam.ensure_identity(admin, user, current[0], rotate)
    if made is None:
        keys = {c.S3_ACCESS_KEY: current[0], c.S3_SECRET_KEY: current[1]}
    else:
        keys = {c.S3_ACCESS_KEY: made.access_key, c.S3_SECRET_KEY: made.secret_key}
    tenant = replace(admin, access_key=keys[c.S3_ACCESS_KEY], secret_key=keys[c.S3_SECRET_KEY])
    try:
        await s3.probe(tenant)
    except s3.StorageProblem as problem:
        if made is None:
            raise
        # IAM services (AWS) may take a few seconds until a new key works everywhere.
        raise s3.StorageProblem(
            "IdentityPending",
            f"the new key of identity {user} does not work yet: {problem.message}",
            human=False,
        ) from None
    handled = spec.rotate_s3_key if rotate else recorded.rotation
    return Identity(user, keys[c.S3_ACCESS_KEY], handled, others, admin), keys


async def retire_old_keys(identity: Identity) -> Identity:
    """Called once the pods rolled to the current key: the older keys stop working."""
    if not identity.retiring or identity.admin is None:
        return identity
    try:
        await iam.retire_keys(identity.admin, identity.name, identity.access_key_id)
    except s3.StorageProblem as problem:
        raise Waiting(problem.reason, problem.message, delay=15) from None
    return replace(identity, retiring=())


async def ensure_claim(ctx: Context, spec: PortalSpec, kind: str) -> Condition:
    """The data volume (documents and/or the SQLite file)."""
    body = render.claim(spec)
    if body is None:
        return Condition(kind, True, "NoVolume", "no volume needed")
    try:
        live = await ctx.ensure(spec.uid, body)
    except ApiError as error:
        # e.g. the StorageClass cannot expand volumes
        raise NeedsHuman("VolumeRejected", f"the volume claim was refused: {error}") from None
    phase = (live.get("status") or {}).get("phase", "Pending")
    size = body["spec"]["resources"]["requests"]["storage"]
    if phase == "Lost":
        raise NeedsHuman("VolumeLost", f"the volume of claim {c.DATA_CLAIM} is lost")
    # Pending is fine: with WaitForFirstConsumer the volume binds when the first pod starts.
    return Condition(kind, True, f"Claim{phase}", f"claim {c.DATA_CLAIM} ({size}) is {phase}")
