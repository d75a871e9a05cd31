"""Where documents go: an S3 bucket (made and checked here) or a PersistentVolumeClaim."""

from __future__ import annotations

from dataclasses import dataclass

from dokportal_operator import constants as c
from dokportal_operator import render, s3
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import ApiError
from dokportal_operator.resources import credentials
from dokportal_operator.spec import PortalSpec


@dataclass(frozen=True)
class StorageState:
    condition: Condition
    bucket: str | None


async def ensure(ctx: Context, spec: PortalSpec) -> StorageState:
    if spec.s3 is not None:
        return await _ensure_bucket(ctx, spec)
    return StorageState(await ensure_claim(ctx, spec, c.STORAGE_READY), None)


async def _ensure_bucket(ctx: Context, spec: PortalSpec) -> StorageState:
    assert spec.s3 is not None
    bucket = render.bucket_name(spec)
    assert bucket is not None
    keys = await credentials.read(
        ctx, spec.s3.credentials, (c.S3_ACCESS_KEY, c.S3_SECRET_KEY), "Credentials"
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
        target.endpoint, target.region, bucket, str(target.path_style), *keys.values()
    )
    if not ctx.storage_fresh(spec.uid, digest):
        try:
            await s3.ensure_bucket(target)
        except s3.StorageProblem as problem:
            if problem.human:
                raise NeedsHuman(problem.reason, problem.message) from None
            raise Waiting(problem.reason, problem.message, delay=15) from None
        ctx.storage_passed(spec.uid, digest)
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
