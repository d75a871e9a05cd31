"""Deletion (behind the finalizer), by spec.storage.deletionPolicy:

- Retain: the keyring moves into a Secret next to the operator (data without its key is
  garbage), the bucket stays, a volume's PersistentVolume is set to Retain; then the
  namespace (and with it the workload) goes.
- Delete: the keyring is deleted first (crypto-shredding: nothing stored can be read any more),
  then the bucket is emptied and removed, then the namespace goes.

Either way the tenant's own S3 identity (storage.s3.identity: iam) is removed first: the keys
its pods held stop working, while a retained bucket keeps its data.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import kopf

from dokportal_operator import constants as c
from dokportal_operator import iam, metrics, render, s3
from dokportal_operator.context import Context, Logger
from dokportal_operator.errors import NeedsHuman
from dokportal_operator.kube import Ref
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import credentials, namespace
from dokportal_operator.spec import PortalSpec, parse


async def finalize(body: kopf.Body, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    ctx: Context = memo["ctx"]
    spec = parse(dict(body), ctx.settings.namespace)
    # Only what this Portal made is removed: a namespace someone else made (NamespaceTaken)
    # keeps everything in it, a bucket whose marker names another Portal stays.
    ours = namespace.owned_by(await ctx.kube.get(Ref("Namespace", spec.namespace)), spec.uid)
    await _remove_identity(ctx, spec, dict(body.get("status") or {}), logger)
    if spec.deletion_policy == "Delete":
        await _shred(ctx, spec, logger, ours, dict(body.get("status") or {}))
    elif ours:
        await _retain(ctx, spec, dict(body.get("status") or {}), logger)
    if ours:
        # Not deleted here (the operator may delete no namespace): its owner reference names
        # this Portal, so the garbage collector removes it once the Portal is gone.
        logger.info("namespace %s goes with the Portal (owner reference)", spec.namespace)
    else:
        logger.info("namespace %s left alone: it was not made for this Portal", spec.namespace)
    ctx.forget(spec.uid)
    ctx.wakeups.pop(spec.name, None)
    ctx.portal_triggers.pop(spec.name, None)
    ctx.kube.forget_namespace(spec.namespace)
    metrics.forget(spec.name)
    logger.info("Portal %s finalized (deletionPolicy %s)", spec.name, spec.deletion_policy)


async def _remove_identity(
    ctx: Context, spec: PortalSpec, status: dict[str, Any], logger: Logger
) -> None:
    if spec.s3 is None or spec.s3.identity != "iam":
        return
    # An identity the status records must go (deletion waits for it); one that may have been
    # made by a pass that could not record it is removed if the S3 service lets us.
    recorded = str((status.get("s3Identity") or {}).get("name") or "")
    user = recorded or iam.user_name(spec.name, spec.uid)
    try:
        keys = await credentials.read(
            ctx, spec.s3.credentials, (c.S3_ACCESS_KEY, c.S3_SECRET_KEY), "Credentials"
        )
    except NeedsHuman as problem:
        if not recorded:
            return
        raise kopf.TemporaryError(
            f"cannot remove the tenant's S3 identity {user}: {problem.message}", delay=30
        ) from None
    admin = s3.S3Target(
        spec.s3.endpoint,
        spec.s3.region,
        render.bucket_name(spec) or "",
        spec.s3.path_style,
        keys[c.S3_ACCESS_KEY],
        keys[c.S3_SECRET_KEY],
    )
    try:
        outcome = await iam.delete_identity(admin, user)
    except s3.StorageProblem as problem:
        if not recorded:
            logger.info("no S3 identity %s removed: %s", user, problem.reason)
            return
        raise kopf.TemporaryError(
            f"S3 identity not removed yet: {problem.message}", delay=15
        ) from None
    logger.info("S3 identity %s %s", user, "removed" if outcome == "removed" else "was gone")


async def _shred(
    ctx: Context, spec: PortalSpec, logger: Logger, ours: bool, status: dict[str, Any]
) -> None:
    if ours:
        keyring = Ref("Secret", c.KEYRING_SECRET, spec.namespace)
        await ctx.kube.delete(keyring)
        if await ctx.kube.get(keyring) is not None:
            raise kopf.TemporaryError("the keyring Secret is still there", delay=2)
        logger.info("keyring deleted: the tenant's documents can no longer be decrypted")
    if spec.s3 is None:
        return
    bucket = render.bucket_name(spec)
    assert bucket is not None
    # status.owned records a bucket the Portal made or checked; before those records existed,
    # status.bucket did.
    used = Owned.from_status(status).bucket if status.get("owned") else status.get("bucket")
    if bucket != used:
        # Never made or used one (e.g. Stalled with BucketTaken): nothing of ours to remove.
        logger.info("bucket %s left alone: this Portal never used it", bucket)
        return
    try:
        keys = await credentials.read(
            ctx, spec.s3.credentials, (c.S3_ACCESS_KEY, c.S3_SECRET_KEY), "Credentials"
        )
    except NeedsHuman as problem:
        raise kopf.TemporaryError(
            f"cannot remove bucket {bucket}: {problem.message}", delay=30
        ) from None
    target = s3.S3Target(
        spec.s3.endpoint,
        spec.s3.region,
        bucket,
        spec.s3.path_style,
        keys[c.S3_ACCESS_KEY],
        keys[c.S3_SECRET_KEY],
    )
    try:
        outcome = await s3.delete_bucket(target, spec.uid)
    except s3.StorageProblem as problem:
        raise kopf.TemporaryError(f"bucket not removed yet: {problem.message}", delay=15) from None
    text = {"removed": "emptied and removed", "gone": "was already gone"}.get(outcome, outcome)
    logger.info("bucket %s %s", bucket, text)


async def _retain(ctx: Context, spec: PortalSpec, status: dict[str, Any], logger: Logger) -> None:
    notes = {
        "retained-at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # The bucket's marker names this uid: restoring this keyring may take the bucket over.
        "portal-uid": spec.uid,
    }
    if spec.s3 is not None:
        notes["bucket"] = status.get("bucket") or render.bucket_name(spec) or ""
        notes["endpoint"] = spec.s3.endpoint
    if spec.needs_claim:
        claim = await ctx.kube.get(Ref("PersistentVolumeClaim", c.DATA_CLAIM, spec.namespace))
        volume = ((claim or {}).get("spec") or {}).get("volumeName")
        if volume:
            await ctx.kube.merge_patch(
                Ref("PersistentVolume", volume),
                {"spec": {"persistentVolumeReclaimPolicy": "Retain"}},
            )
            notes["persistent-volume"] = volume
    secret = await ctx.kube.get(Ref("Secret", c.KEYRING_SECRET, spec.namespace))
    raw = ((secret or {}).get("data") or {}).get(c.KEYRING_KEY)
    if raw:
        retained = render.retained_keyring(
            spec, ctx.settings.namespace, base64.b64decode(raw).decode(), notes
        )
        made = await ctx.kube.create(retained)
        logger.info(
            "keyring %s Secret %s/%s",
            "moved into" if made else "already in",
            ctx.settings.namespace,
            retained["metadata"]["name"],
        )
