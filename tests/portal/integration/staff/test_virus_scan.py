"""Virus scanning with a real clamd: clean files open, infected ones are quarantined and never
served by any route, and while clamd is down files wait until the worker scans them."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from dokportal import tasks
from dokportal.api.services import create_token
from dokportal.audit.tables import AuditEvent
from dokportal.crypto import Keyring
from dokportal.files import scanning
from dokportal.files.tables import StoredFile
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import Person, PortalClient, csrf_of, make_settings
from tests.portal.integration.staff.conftest import (
    make_staff,
    put_in_team,
    staff_cookies,
    upload,
    use,
)
from tests.support import documents
from tests.support.clamd import (
    EICAR,
    EICAR_SIGNATURE,
    MARKER,
    MARKER_SIGNATURE,
    Clamd,
    infected_pdf,
    running_clamd,
)

NS = {"x": "urn:dokportal:xdomea-subset:1"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, clamd: Clamd) -> Settings:
    return make_settings(tmp_path, database_url, scan={"clamd": clamd.url})


async def _files() -> list[StoredFile]:
    return list(await StoredFile.objects().order_by(StoredFile.id))


async def _caseworker(client: PortalClient, settings: Settings, customer: Person) -> None:
    worker = await make_staff(settings, "anna", "caseworker", "team-a")
    await put_in_team(customer.number, "team-a")
    use(client, await staff_cookies(settings, worker))


async def test_clean_files_are_scanned_right_after_the_upload_and_open(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    letter, photo = documents.pdf("Lohnabrechnung"), documents.jpeg()
    reference = await upload(
        client, ("lohn.pdf", letter, "application/pdf"), ("foto.jpg", photo, "image/jpeg")
    )
    # The upload's background task has scanned both once the answer was out.
    rows = await _files()
    assert [row.scan_state for row in rows] == ["clean", "clean"]
    assert all(row.scanned_at is not None and row.scan_signature == "" for row in rows)
    receipt = await client.get(f"/documents/{reference}")
    assert "could not accept" not in receipt.text

    await _caseworker(client, settings, customer)
    page = await client.get(f"/staff/submissions/{reference}")
    assert "Being checked" not in page.text and "Quarantined" not in page.text
    assert (await client.get(f"/staff/submissions/{reference}/files/0")).content == letter
    assert (await client.get(f"/staff/submissions/{reference}/files/1")).content == photo


async def test_infected_file_is_quarantined_and_never_served(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    letter = documents.pdf("Kontoauszug")
    bad = infected_pdf(documents.pdf("Lohn"), EICAR)
    reference = await upload(
        client, ("konto.pdf", letter, "application/pdf"), ("lohn.pdf", bad, "application/pdf")
    )
    clean, infected = await _files()
    assert clean.scan_state == "clean"
    assert infected.scan_state == "infected"
    assert infected.scan_signature == EICAR_SIGNATURE
    # Kept encrypted for the record: the blob is still there, the row flagged.
    blobs = [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()]
    assert len(blobs) == 2 and all(EICAR not in blob.read_bytes() for blob in blobs)

    # The customer is told, on the receipt and in the list.
    told = "We could not accept the file lohn.pdf."
    assert told in (await client.get(f"/documents/{reference}")).text
    assert told in (await client.get("/documents")).text
    receipt = await client.get(f"/documents/{reference}/receipt.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(receipt.content)).pages)
    assert told in text.replace("\n", " ")

    events = await AuditEvent.objects().where(AuditEvent.action == "file.quarantined")
    assert [(e.object_type, e.object_id, e.actor_kind) for e in events] == [
        ("stored_file", str(infected.id), "system")
    ]

    await _caseworker(client, settings, customer)
    page = await client.get(f"/staff/submissions/{reference}")
    assert "Quarantined: virus found" in page.text and EICAR_SIGNATURE in page.text
    assert f"/staff/submissions/{reference}/files/1" not in page.text  # no link to open it
    for path in ("/files/1", "/files/1?inline=1", "/bundle.pdf"):
        refused = await client.get(f"/staff/submissions/{reference}{path}")
        assert refused.status_code == 403, path
        assert EICAR not in refused.content
    assert (await client.get(f"/staff/submissions/{reference}/files/0")).content == letter

    for path in ("/bundle.zip", "/xdomea.zip"):
        response = await client.get(f"/staff/submissions/{reference}{path}")
        assert response.status_code == 200
        assert EICAR not in response.content
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        names = archive.namelist()
        assert "01-konto.pdf" in names and not any(n.endswith("lohn.pdf") for n in names)
        assert "lohn.pdf" in archive.read("NICHT-ENTHALTEN.txt").decode()
        if path == "/xdomea.zip":
            manifest = etree.fromstring(archive.read("manifest.xml"))
            listed = manifest.findall(".//x:Primaerdokument/x:DateinameOriginal", NS)
            assert [item.text for item in listed] == ["konto.pdf"]

    client.cookies.clear()
    token, _ = await create_token("e-Akte", ["read"], None)
    auth = {"authorization": f"Bearer {token}"}
    detail = (await client.get(f"/api/v1/submissions/{reference}", headers=auth)).json()
    assert [f["scan"] for f in detail["files"]] == ["clean", "infected"]
    refused = await client.get(f"/api/v1/submissions/{reference}/files/1", headers=auth)
    assert refused.status_code == 403 and EICAR not in refused.content
    assert "quarantined" in refused.json()["error"]
    served = await client.get(f"/api/v1/submissions/{reference}/files/0", headers=auth)
    assert served.content == letter


async def test_a_signature_of_our_own_is_found_too(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    # Inside a PDF: bytes appended after a JPEG's end marker are stripped before storing.
    await upload(
        client, ("brief.pdf", infected_pdf(documents.pdf("Brief"), MARKER), "application/pdf")
    )
    (row,) = await _files()
    assert (row.scan_state, row.scan_signature) == ("infected", MARKER_SIGNATURE)


async def test_files_wait_while_clamd_is_down_and_the_worker_scans_them_later(
    client: PortalClient, customer: Person, tmp_path: Path, database_url: str
) -> None:
    with running_clamd() as own:
        live = make_settings(tmp_path, database_url, scan={"clamd": own.url})
        client.app.state.runtime = _with_settings(client, live)
        own.stop()
        letter = documents.pdf("Mietbescheinigung")
        reference = await upload(client, ("miete.pdf", letter, "application/pdf"))
        (row,) = await _files()
        assert row.scan_state == "pending" and row.scan_attempts == 1
        assert row.scan_after is not None and row.scan_after > datetime.now(UTC)
        assert "Being checked for viruses" in (await client.get(f"/documents/{reference}")).text

        customer_cookies = dict(client.cookies)
        await _caseworker(client, live, customer)
        page = await client.get(f"/staff/submissions/{reference}")
        assert "Being checked for viruses" in page.text
        for path in ("/files/0", "/bundle.zip", "/bundle.pdf", "/xdomea.zip"):
            waiting = await client.get(f"/staff/submissions/{reference}{path}")
            assert waiting.status_code == 409, path
            assert b"%PDF" not in waiting.content
        token, _ = await create_token("e-Akte", ["read", "acknowledge"], None)
        auth = {"authorization": f"Bearer {token}"}
        api = await client.get(f"/api/v1/submissions/{reference}/files/0", headers=auth)
        assert api.status_code == 409
        ack = await client.post(f"/api/v1/submissions/{reference}/acknowledge", headers=auth)
        assert ack.status_code == 409  # the e-file cannot have it yet

        store, keyring = build_store(live.storage), Keyring.load(live.keyring_path)
        await tasks.run_once(live, store, keyring)  # still down: waits, one more attempt
        (row,) = await _files()
        assert row.scan_state == "pending"

        own.start()
        await tasks.run_once(live, store, keyring)  # back-off not over: not tried yet
        assert (await _files())[0].scan_state == "pending"
        # Time passes: the back-off is over.
        await StoredFile.update(
            {StoredFile.scan_after: datetime.now(UTC) - timedelta(seconds=1)}
        ).where(StoredFile.id == row.id)
        await tasks.run_once(live, store, keyring)
        (row,) = await _files()
        assert row.scan_state == "clean"
        assert (await client.get(f"/staff/submissions/{reference}/files/0")).content == letter
        ack = await client.post(f"/api/v1/submissions/{reference}/acknowledge", headers=auth)
        assert ack.status_code == 200
        use(client, customer_cookies)
        assert "Being checked" not in (await client.get(f"/documents/{reference}")).text


async def test_a_file_clamd_keeps_refusing_ends_closed_as_not_checkable(
    client: PortalClient, customer: Person, tmp_path: Path, database_url: str
) -> None:
    """clamd answers ERROR (here: its StreamMaxLength is smaller than the file): retried with
    back-off, then closed for good after ``max_errors`` tries, with an audit event."""
    with running_clamd(stream_max="1K") as small:
        live = make_settings(tmp_path, database_url, scan={"clamd": small.url, "max_errors": 2})
        client.app.state.runtime = _with_settings(client, live)
        reference = await upload(client, ("foto.jpg", documents.jpeg(300, 300), "image/jpeg"))
        (row,) = await _files()
        assert (row.scan_state, row.scan_attempts) == ("pending", 1)
        await StoredFile.update(
            {StoredFile.scan_after: datetime.now(UTC) - timedelta(seconds=1)}
        ).where(StoredFile.id == row.id)
        await tasks.run_once(live, build_store(live.storage), Keyring.load(live.keyring_path))
        (row,) = await _files()
        assert row.scan_state == "error"
        assert await AuditEvent.exists().where(
            (AuditEvent.action == "file.scan_failed") & (AuditEvent.object_id == str(row.id))
        )
        assert (
            "We could not accept the file foto.jpg."
            in (await client.get(f"/documents/{reference}")).text
        )
        await _caseworker(client, live, customer)
        assert (
            "Could not be checked for viruses"
            in (await client.get(f"/staff/submissions/{reference}")).text
        )
        assert (await client.get(f"/staff/submissions/{reference}/files/0")).status_code == 403


def _with_settings(client: PortalClient, settings: Settings) -> object:
    from dataclasses import replace

    return replace(client.app.state.runtime, settings=settings)


async def _notice(client: PortalClient, number: str, content: bytes):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, f"/staff/customers/{number}")
    return await client.post(
        f"/staff/customers/{number}/notices",
        data={"_csrf": token, "title": "Bescheid", "message": ""},
        files=[("file", ("bescheid.pdf", content, "application/pdf"))],
    )


async def test_staff_notices_are_scanned_before_they_reach_the_customer(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    await _caseworker(client, settings, customer)
    refused = await _notice(client, customer.number, infected_pdf(documents.pdf("Bescheid")))
    assert refused.status_code == 415
    assert "contains a virus" in refused.text and EICAR_SIGNATURE in refused.text
    assert await Notice.count() == 0 and await StoredFile.count() == 0
    assert not [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()]
    assert await AuditEvent.exists().where(AuditEvent.action == "file.rejected_infected")

    sent = await _notice(client, customer.number, documents.pdf("Bewilligung"))
    assert sent.status_code == 303, sent.text[:300]
    (row,) = await _files()
    assert row.scan_state == "clean"


async def test_a_notice_is_not_sent_while_clamd_is_down(
    client: PortalClient, customer: Person, tmp_path: Path, database_url: str
) -> None:
    nobody = tmp_path / "clamd-is-down.sock"  # nothing listens here
    live = make_settings(tmp_path, database_url, scan={"clamd": f"unix://{nobody}"})
    client.app.state.runtime = _with_settings(client, live)
    await _caseworker(client, live, customer)
    refused = await _notice(client, customer.number, documents.pdf("Bescheid"))
    assert refused.status_code == 503
    assert "Nothing was sent" in refused.text
    assert await Notice.count() == 0 and await StoredFile.count() == 0
    assert not [p for p in Path(live.storage.folder).rglob("*") if p.is_file()]


async def test_without_a_scanner_files_are_served_and_marked_not_scanned(
    client: PortalClient, customer: Person, tmp_path: Path, database_url: str
) -> None:
    plain = make_settings(tmp_path, database_url)  # no DOKPORTAL_SCAN__CLAMD
    client.app.state.runtime = _with_settings(client, plain)
    letter = documents.pdf("Lohn")
    reference = await upload(client, ("lohn.pdf", letter, "application/pdf"))
    await tasks.run_once(plain, build_store(plain.storage), Keyring.load(plain.keyring_path))
    (row,) = await _files()
    assert row.scan_state == "unscanned" and row.scanned_at is None
    await _caseworker(client, plain, customer)
    assert "not checked for viruses" in (await client.get(f"/staff/submissions/{reference}")).text
    assert (await client.get(f"/staff/submissions/{reference}/files/0")).content == letter


async def test_files_from_before_the_scanner_can_be_queued_and_are_scanned(
    client: PortalClient, customer: Person, tmp_path: Path, database_url: str, clamd: Clamd
) -> None:
    """`dokportal scan queue --unscanned`: old files go through the scan too."""
    plain = make_settings(tmp_path, database_url)
    client.app.state.runtime = _with_settings(client, plain)
    await upload(client, ("lohn.pdf", documents.pdf("Lohn"), "application/pdf"))
    await upload(client, ("alt.pdf", infected_pdf(documents.pdf("Alt")), "application/pdf"))
    assert (await scanning.counts())["unscanned"] == 2
    assert await scanning.queue(["unscanned", "infected"]) == 2  # a quarantine stays
    assert (await scanning.counts())["pending"] == 2
    live = make_settings(tmp_path, database_url, scan={"clamd": clamd.url})
    await tasks.run_once(live, build_store(live.storage), Keyring.load(live.keyring_path))
    counts = await scanning.counts()
    assert (counts["clean"], counts["infected"], counts["pending"]) == (1, 1, 0)
    assert await scanning.queue(["infected"]) == 0
