"""Rotation by interval and the S3 error reasons, without a cluster (a fake API)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dokportal_operator import constants as c
from dokportal_operator import iam, keyring, s3
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman
from dokportal_operator.kube import Obj, Ref
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import keys, storage
from dokportal_operator.settings import OperatorSettings
from tests.operator.unit.helpers import spec


class FakeKube:
    """Just enough of `Kube` for the keys step: objects in a dict, resourceVersions counted."""

    def __init__(self) -> None:
        self.objects: dict[Ref, Obj] = {}
        self.writes = 0

    async def get(self, ref: Ref) -> Obj | None:
        found = self.objects.get(ref)
        return json.loads(json.dumps(found)) if found else None

    async def create(self, obj: Obj) -> Obj | None:
        ref = Ref.of(obj)
        if ref in self.objects:
            return None
        self.writes += 1
        self.objects[ref] = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "1"}}
        return await self.get(ref)

    async def apply(self, obj: Obj) -> Obj:
        ref = Ref.of(obj)
        self.writes += 1
        version = str(
            int((self.objects.get(ref) or {"metadata": {}})["metadata"].get("resourceVersion", "0"))
            + 1
        )
        self.objects[ref] = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
        copied: Obj = json.loads(json.dumps(self.objects[ref]))
        return copied

    async def replace(self, obj: Obj) -> Obj:
        ref = Ref.of(obj)
        assert (
            obj["metadata"]["resourceVersion"] == self.objects[ref]["metadata"]["resourceVersion"]
        )
        self.writes += 1
        version = str(int(obj["metadata"]["resourceVersion"]) + 1)
        self.objects[ref] = {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
        copied: Obj = json.loads(json.dumps(self.objects[ref]))
        return copied


NOTHING = Owned()


def _context(kube: FakeKube) -> Context:
    return Context(kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]


def _ids(kube: FakeKube, namespace: str) -> tuple[str, set[str]]:
    secret = kube.objects[Ref("Secret", c.KEYRING_SECRET, namespace)]
    ring: dict[str, Any] = json.loads(base64.b64decode(secret["data"][c.KEYRING_KEY]))
    return ring["primary"], set(ring["keys"])


def test_rotation_happens_when_the_interval_has_passed() -> None:
    kube = FakeKube()
    ctx = _context(kube)
    portal = spec()  # rotationIntervalDays: 90
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = asyncio.run(keys.ensure(ctx, portal, start, NOTHING))
    assert first.retiring == () and first.next_rotation(90) == start + timedelta(days=90)
    writes = kube.writes
    same = asyncio.run(keys.ensure(ctx, portal, start + timedelta(days=89), NOTHING))
    assert same.primary == first.primary and kube.writes == writes  # not due: nothing written
    due = asyncio.run(keys.ensure(ctx, portal, start + timedelta(days=90), NOTHING))
    assert due.primary != first.primary
    assert due.retiring == (first.primary,)
    assert _ids(kube, portal.namespace) == (due.primary, {first.primary, due.primary})
    # A second rotation waits until the first one's old key is retired.
    later = asyncio.run(keys.ensure(ctx, portal, start + timedelta(days=200), NOTHING))
    assert later.primary == due.primary
    asyncio.run(keys.retire(ctx, portal))
    assert _ids(kube, portal.namespace) == (due.primary, {due.primary})


def test_rotation_request_is_handled_once() -> None:
    kube = FakeKube()
    ctx = _context(kube)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = asyncio.run(keys.ensure(ctx, spec(), now, NOTHING))
    requested = spec(metadata__annotations={c.ROTATE_ANNOTATION: "please"})
    rotated = asyncio.run(keys.ensure(ctx, requested, now, NOTHING))
    assert rotated.primary != first.primary
    asyncio.run(keys.retire(ctx, requested))
    again = asyncio.run(keys.ensure(ctx, requested, now, NOTHING))
    assert again.primary == rotated.primary and again.retiring == ()


def test_unreachable_endpoint_is_its_own_reason() -> None:
    target = s3.S3Target("http://127.0.0.1:9", "us-east-1", "bucket", True, "AK", "SK")
    with pytest.raises(s3.StorageProblem) as problem:
        asyncio.run(s3.ensure_bucket(target, s3.Owner("viernheim", "uid")))
    assert problem.value.reason == "EndpointUnreachable"
    assert not problem.value.human
    assert "SK" not in problem.value.message


def test_storage_condition_reads_the_same_after_a_create_a_check_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message that changed between passes would be a status write on every recheck."""
    outcomes = iter(["created", "exists"])

    async def ensure_bucket(target: s3.S3Target, owner: s3.Owner) -> str:
        next(outcomes)
        return "marker-1"

    monkeypatch.setattr(s3, "ensure_bucket", ensure_bucket)
    kube = FakeKube()
    kube.objects[Ref("Secret", "s3-credentials", "dokportal")] = {
        "metadata": {"name": "s3-credentials", "namespace": "dokportal"},
        "data": {
            c.S3_ACCESS_KEY: base64.b64encode(b"AK").decode(),
            c.S3_SECRET_KEY: base64.b64encode(b"SK").decode(),
        },
    }
    ctx = _context(kube)
    portal = spec(spec__storage__s3__identity="static")  # (identities: the tests below)
    created = asyncio.run(storage.ensure(ctx, portal, NOTHING)).condition
    trusted = asyncio.run(storage.ensure(ctx, portal, NOTHING)).condition  # checked moments ago
    ctx.storage_checked.clear()  # the recheck interval has passed
    checked = asyncio.run(storage.ensure(ctx, portal, NOTHING)).condition
    assert created == trusted == checked
    assert next(outcomes, None) is None  # the bucket was checked twice, not three times


def test_a_keyring_that_existed_is_never_made_again() -> None:
    """The status recorded a keyring: its Secret gone means Stalled, not a new keyring."""
    kube = FakeKube()
    ctx = _context(kube)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = asyncio.run(keys.ensure(ctx, spec(), now, NOTHING))
    owned = NOTHING.with_keyring(first.ids, first.fingerprint, "2026-01-01T00:00:00Z")
    owned = owned.with_session(first.session_fingerprint, "2026-01-01T00:00:00Z")
    ring = kube.objects.pop(Ref("Secret", c.KEYRING_SECRET, spec().namespace))
    with pytest.raises(NeedsHuman) as stalled:
        asyncio.run(keys.ensure(ctx, spec(), now, owned))
    assert stalled.value.reason == "KeyringMissing"
    assert first.primary in stalled.value.message
    assert "spec.encryption.restoreFrom" in stalled.value.message
    assert Ref("Secret", c.KEYRING_SECRET, spec().namespace) not in kube.objects

    # Put back from a copy next to the operator: the same keys, nothing generated.
    kube.objects[Ref("Secret", "backup", "dokportal")] = {
        "metadata": {"name": "backup", "namespace": "dokportal"},
        "data": {c.KEYRING_KEY: ring["data"][c.KEYRING_KEY]},
    }
    restoring = spec(
        spec__encryption={"rotationIntervalDays": 90, "restoreFrom": {"name": "backup"}}
    )
    restored = asyncio.run(keys.ensure(ctx, restoring, now, owned))
    assert (restored.primary, restored.fingerprint) == (first.primary, first.fingerprint)


def test_a_restore_lacking_recorded_keys_is_refused() -> None:
    kube = FakeKube()
    ctx = _context(kube)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    other = keyring.generate(now.date())
    kube.objects[Ref("Secret", "old", "dokportal")] = {
        "metadata": {"name": "old", "namespace": "dokportal"},
        "data": {c.KEYRING_KEY: base64.b64encode(other.to_json().encode()).decode()},
    }
    owned = NOTHING.with_keyring(("k-20260101-abcdef",), "sha256:x", "2026-01-01T00:00:00Z")
    restoring = spec(spec__encryption={"rotationIntervalDays": 90, "restoreFrom": {"name": "old"}})
    with pytest.raises(NeedsHuman) as refused:
        asyncio.run(keys.ensure(ctx, restoring, now, owned))
    assert refused.value.reason == "KeyringRestoreMismatch"
    assert "k-20260101-abcdef" in refused.value.message


def test_a_session_secret_that_existed_is_not_regenerated_unasked() -> None:
    kube = FakeKube()
    ctx = _context(kube)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = asyncio.run(keys.ensure(ctx, spec(), now, NOTHING))
    owned = NOTHING.with_keyring(first.ids, first.fingerprint, "t").with_session(
        first.session_fingerprint, "t"
    )
    kube.objects.pop(Ref("Secret", c.SESSION_SECRET, spec().namespace))
    with pytest.raises(NeedsHuman) as stalled:
        asyncio.run(keys.ensure(ctx, spec(), now, owned))
    assert stalled.value.reason == "SessionSecretMissing"
    accepted = spec(
        metadata__annotations={c.REGENERATE_SESSION_ANNOTATION: first.session_fingerprint}
    )
    again = asyncio.run(keys.ensure(ctx, accepted, now, owned))
    assert again.session_fingerprint and again.session_fingerprint != first.session_fingerprint


def _admin_secret(kube: FakeKube) -> None:
    kube.objects[Ref("Secret", "s3-credentials", "dokportal")] = {
        "metadata": {"name": "s3-credentials", "namespace": "dokportal"},
        "data": {
            c.S3_ACCESS_KEY: base64.b64encode(b"ADMIN-AK").decode(),
            c.S3_SECRET_KEY: base64.b64encode(b"ADMIN-SK").decode(),
        },
    }


def _pods_keys(kube: FakeKube, namespace: str) -> dict[str, str]:
    secret = kube.objects[Ref("Secret", c.S3_SECRET, namespace)]
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_iam_identity_gives_the_pods_only_the_tenants_key_and_rotates_on_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str, bool]] = []
    made = iter(["TENANT-AK1", "TENANT-AK2"])

    async def ensure_bucket(target: s3.S3Target, owner: s3.Owner) -> str:
        assert target.access_key == "ADMIN-AK"  # buckets are made with the admin key
        return "marker-1"

    async def ensure_identity(
        admin: s3.S3Target, user: str, current: str, rotate: bool
    ) -> tuple[iam.TenantKeys | None, tuple[str, ...]]:
        calls.append((user, current, rotate))
        if current and not rotate:
            return None, ()
        key = next(made)
        return iam.TenantKeys(user, key, f"{key}-secret"), (current,) if current else ()

    probed: list[str] = []

    async def probe(target: s3.S3Target) -> None:
        probed.append(target.access_key)

    monkeypatch.setattr(s3, "ensure_bucket", ensure_bucket)
    monkeypatch.setattr(s3, "probe", probe)
    monkeypatch.setattr(iam, "ensure_identity", ensure_identity)
    kube = FakeKube()
    _admin_secret(kube)
    ctx = _context(kube)
    portal = spec()
    first = asyncio.run(storage.ensure(ctx, portal, NOTHING))
    assert first.identity is not None
    user = iam.user_name(portal.name, portal.uid)
    assert (first.identity.name, first.identity.access_key_id) == (user, "TENANT-AK1")
    assert _pods_keys(kube, portal.namespace) == {
        c.S3_ACCESS_KEY: "TENANT-AK1",
        c.S3_SECRET_KEY: "TENANT-AK1-secret",
    }
    assert probed == ["TENANT-AK1"]  # the tenant's key was proved before the pods got it
    status = {"s3Identity": first.identity.to_status()}
    assert "secret" not in json.dumps(status)
    # The next pass keeps the key the pods hold (checked moments ago: trusted).
    second = asyncio.run(
        storage.ensure(ctx, portal, NOTHING, "", storage.Identity.from_status(status))
    )
    assert second.identity is not None and second.identity.access_key_id == "TENANT-AK1"
    assert len(calls) == 1
    ctx.storage_checked.clear()  # the recheck interval has passed: asked again, key kept
    second = asyncio.run(
        storage.ensure(ctx, portal, NOTHING, "", storage.Identity.from_status(status))
    )
    assert second.identity is not None and second.identity.access_key_id == "TENANT-AK1"
    # A rotation request: a new key; the old one is only marked for retiring.
    rotate = spec(metadata__annotations={c.ROTATE_S3_KEY_ANNOTATION: "2026-12"})
    status = {"s3Identity": second.identity.to_status()}
    third = asyncio.run(
        storage.ensure(ctx, rotate, NOTHING, "", storage.Identity.from_status(status))
    )
    assert third.identity is not None
    assert third.identity.access_key_id == "TENANT-AK2"
    assert third.identity.retiring == ("TENANT-AK1",)
    assert third.identity.rotation == "2026-12"
    assert _pods_keys(kube, portal.namespace)[c.S3_ACCESS_KEY] == "TENANT-AK2"
    assert calls == [(user, "", False), (user, "TENANT-AK1", False), (user, "TENANT-AK1", True)]
    # Handled: the same annotation value asks for nothing more.
    status = {"s3Identity": third.identity.to_status()}
    ctx.storage_checked.clear()
    asyncio.run(storage.ensure(ctx, rotate, NOTHING, "", storage.Identity.from_status(status)))
    assert calls[-1] == (user, "TENANT-AK2", False)


def test_without_a_working_iam_api_the_admin_keys_stay_with_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def ensure_bucket(target: s3.S3Target, owner: s3.Owner) -> str:
        return "marker-1"

    def refusing(**_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "IAM write operations are disabled"}},
            "CreateUser",
        )

    monkeypatch.setattr(s3, "ensure_bucket", ensure_bucket)
    monkeypatch.setattr(iam, "_client", lambda admin: SimpleNamespace(get_user=refusing))
    kube = FakeKube()
    _admin_secret(kube)
    with pytest.raises(NeedsHuman) as stalled:
        asyncio.run(storage.ensure(_context(kube), spec(), NOTHING))
    assert stalled.value.reason == "IdentityUnsupported"
    assert "ADMIN" not in stalled.value.message
    assert "identity: static" in stalled.value.message
    assert Ref("Secret", c.S3_SECRET, spec().namespace) not in kube.objects


def test_the_identity_policy_allows_object_actions_on_its_bucket_only() -> None:
    document = json.loads(iam.policy("dokportal-viernheim-0f1e2d3c"))
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [
        "arn:aws:s3:::dokportal-viernheim-0f1e2d3c",
        "arn:aws:s3:::dokportal-viernheim-0f1e2d3c/*",
    ]
    assert all(action.startswith("s3:") and "*" not in action for action in statement["Action"])
    assert not {"s3:CreateBucket", "s3:DeleteBucket"} & set(statement["Action"])
    assert len(iam.user_name("x" * 63, spec().uid)) <= 64
