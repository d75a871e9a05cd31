"""Retention deletes transferred submissions (blobs first, then rows); the audit chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dokportal.audit import Actor, record, verify_chain
from dokportal.audit.tables import AuditEvent
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files.tables import StoredFile
from dokportal.retention.services import run
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import Person, PortalClient
from tests.portal.integration.staff.conftest import upload


async def test_retention_deletes_only_what_is_due(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    old = await upload(client)
    young = await upload(client)
    kept = await upload(client)
    now = datetime.now(UTC)
    await Submission.update(
        {Submission.status: "transferred", Submission.transferred_at: now - timedelta(days=31)}
    ).where(Submission.reference == old)
    await Submission.update(
        {Submission.status: "transferred", Submission.transferred_at: now - timedelta(days=29)}
    ).where(Submission.reference == young)
    store = build_store(settings.storage)
    doomed = await StoredFile.objects().where(
        StoredFile.id.is_in(
            [
                link.stored_file
                for link in await SubmissionFile.objects().where(
                    SubmissionFile.submission.reference == old
                )
            ]
        )
    )
    report = await run(store, 30)
    assert report.submissions == 1 and report.blobs == 1
    assert {s.reference for s in await Submission.objects()} == {young, kept}
    for row in doomed:
        assert not await store.exists(row.blob_id)
        assert not await StoredFile.exists().where(StoredFile.id == row.id)
    assert await AuditEvent.exists().where(
        (AuditEvent.action == "retention.deleted") & (AuditEvent.object_id == old)
    )
    assert (await run(store, 30)).submissions == 0  # idempotent
    # The customer's list no longer shows it; the receipt is gone too.
    assert (await client.get(f"/documents/{old}")).status_code == 404


async def test_audit_chain_verifies_and_reports_the_first_broken_link(client: PortalClient) -> None:
    actor = Actor(kind="staff", id="anna", role="caseworker", source_ip="10.0.0.1")
    for number in range(5):
        await record(actor, "test.event", "thing", number)
    report = await verify_chain()
    assert report.ok and report.checked == 5
    await AuditEvent.update({AuditEvent.object_id: "forged"}).where(AuditEvent.seq == 3)
    broken = await verify_chain()
    assert broken.broken_seq == 3 and broken.reason == "event was changed"
    await AuditEvent.update({AuditEvent.object_id: "2"}).where(AuditEvent.seq == 3)
    assert (await verify_chain()).ok
    await AuditEvent.delete().where(AuditEvent.seq == 2)
    gone = await verify_chain()
    assert gone.broken_seq == 2 and gone.reason == "event missing"


async def test_concurrent_appends_all_land_in_one_unbroken_chain(client: PortalClient) -> None:
    """200 customers uploading at the same instant append at the same instant (bench, issue 6)."""
    before = await AuditEvent.count()
    actor = Actor(kind="customer", id="900A000001", source_ip="10.0.0.2")
    rows = await asyncio.gather(
        *(record(actor, "submission.received", "submission", n) for n in range(60))
    )
    assert sorted(row.seq for row in rows) == list(range(before + 1, before + 61))
    report = await verify_chain()
    assert report.ok and report.checked == before + 60


async def test_admin_audit_view_filters(client: PortalClient, settings: Settings) -> None:
    from tests.portal.integration.staff.conftest import make_staff, staff_cookies, use

    await record(Actor(kind="staff", id="anna"), "file.downloaded", "stored_file", 7)
    await record(Actor(kind="staff", id="bert"), "submission.viewed", "submission", "BG-1")
    caseworker = await make_staff(settings, "carl", "caseworker", "team-a")
    use(client, await staff_cookies(settings, caseworker))
    assert (await client.get("/staff/admin/audit")).status_code == 403
    admin = await make_staff(settings, "root", "admin", None)
    use(client, await staff_cookies(settings, admin))
    page = await client.get("/staff/admin/audit?action=file.&verify=1")
    assert page.status_code == 200
    assert "staff:anna" in page.text and "staff:bert" not in page.text
    assert "The chain is intact" in page.text
    assert "staff:bert" in (await client.get("/staff/admin/audit?actor=bert")).text
