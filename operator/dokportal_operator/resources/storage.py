"""Where documents go: an S3 bucket (made and checked here) or a PersistentVolumeClaim."""

from __future__ import annotations

from dataclasses import dataclass

from dokportal_operator import constants as c
from dokportal_operator import render, s3
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import ApiError, Ref
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import credentials
from dokportal_operator.spec import PortalSpec


@dataclass(frozen=True)
class StorageState:
    condition: Condition
    bucket: str | None
    marker: str = ""  # the id of the bucket's owner marker


async def ensure(
    ctx: Context, spec: PortalSpec, owned: Owned, status_bucket: str = ""
) -> StorageState:
    """`owned`: what the status recorded (a recorded bucket is never made again empty);
    `status_bucket`: status.bucket, which operators before markers recorded."""
    if spec.s3 is not None:
        return await _ensure_bucket(ctx, spec, owned, status_bucket)
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
    ctx: Context, spec: PortalSpec, owned: Owned, status_bucket: str
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
    if marker is None:
        owner = await _owner(ctx, spec, bucket, owned, status_bucket)
        try:
            marker = await s3.ensure_bucket(target, owner)
        except s3.StorageProblem as problem:
            if problem.human:
                raise NeedsHuman(problem.reason, problem.message) from None
            raise Waiting(problem.reason, problem.message, delay=15) from None
        ctx.storage_passed(spec.uid, digest, marker)
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
    )


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
