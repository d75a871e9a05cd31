"""The team inbox and one submission: read, stream, bundle, export, assign, status, notes."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from lxml import etree
from pypdf import PdfReader

from dokportal.audit.tables import AuditEvent
from dokportal.documents.tables import Submission
from dokportal.export.xdomea import schema
from dokportal.settings import Settings
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import (
    make_staff,
    put_in_team,
    staff_cookies,
    upload,
    use,
)
from tests.support import documents


@pytest.fixture
async def scene(client: PortalClient, customer: Person, settings: Settings) -> dict[str, object]:
    """A customer of team A sent a photo and a PDF; caseworkers of team A and B exist."""
    photo, letter = documents.jpeg(), documents.pdf("Lohnabrechnung")
    reference = await upload(
        client, ("foto.jpg", photo, "image/jpeg"), ("lohn.pdf", letter, "application/pdf")
    )
    customer_cookies = dict(client.cookies)
    a = await make_staff(settings, "anna", "caseworker", "team-a")
    b = await make_staff(settings, "bert", "caseworker", "team-b")
    await put_in_team(customer.number, "team-a")
    return {
        "reference": reference,
        "photo": photo,
        "letter": letter,
        "a": await staff_cookies(settings, a),
        "b": await staff_cookies(settings, b),
        "a_id": a.id,
        "customer": customer_cookies,
    }


async def test_inbox_lists_the_team_submissions_with_counts_and_filters(
    client: PortalClient, scene: dict[str, object], customer: Person
) -> None:
    use(client, scene["a"])  # type: ignore[arg-type]
    page = await client.get("/staff")
    assert page.status_code == 200
    assert str(scene["reference"]) in page.text and customer.number in page.text
    assert "Received: <strong>1</strong>" in page.text
    assert str(scene["reference"]) not in (await client.get("/staff?status=done")).text
    assert str(scene["reference"]) not in (await client.get("/staff?category=rent")).text
    assert str(scene["reference"]) in (await client.get("/staff?category=payslip")).text
    assert str(scene["reference"]) not in (await client.get("/staff?customer=999")).text
    assert str(scene["reference"]) not in (await client.get("/staff?from=2099-01-01")).text
    assert (await client.get("/staff?from=not-a-date")).status_code == 200
    use(client, scene["b"])  # type: ignore[arg-type]
    assert str(scene["reference"]) not in (await client.get("/staff")).text


async def test_open_view_and_download_decrypted(
    client: PortalClient, scene: dict[str, object]
) -> None:
    reference = scene["reference"]
    use(client, scene["a"])  # type: ignore[arg-type]
    page = await client.get(f"/staff/submissions/{reference}")
    assert page.status_code == 200
    assert "foto.jpg" in page.text and "Anbei" in page.text
    assert "Erika Mustermann" in page.text  # the customer, linked
    inline = await client.get(f"/staff/submissions/{reference}/files/0?inline=1")
    assert inline.content == scene["photo"]
    assert inline.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in inline.headers["content-security-policy"]
    download = await client.get(f"/staff/submissions/{reference}/files/1")
    assert download.content == scene["letter"]
    assert download.headers["content-disposition"].startswith("attachment;")
    assert (await client.get(f"/staff/submissions/{reference}/files/7")).status_code == 404
    actions = [e.action for e in await AuditEvent.objects().order_by(AuditEvent.seq)]
    assert actions[-3:] == ["submission.viewed", "file.viewed", "file.downloaded"]
    # Another team: the same links are "not found".
    use(client, scene["b"])  # type: ignore[arg-type]
    for url in (f"/staff/submissions/{reference}", f"/staff/submissions/{reference}/files/0"):
        assert (await client.get(url)).status_code == 404


async def test_bundles_zip_pdf_and_xdomea(client: PortalClient, scene: dict[str, object]) -> None:
    reference = scene["reference"]
    use(client, scene["a"])  # type: ignore[arg-type]
    archive = await client.get(f"/staff/submissions/{reference}/bundle.zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert bundle.namelist() == ["01-foto.jpg", "02-lohn.pdf"]
        assert bundle.read("02-lohn.pdf") == scene["letter"]
    merged = await client.get(f"/staff/submissions/{reference}/bundle.pdf")
    reader = PdfReader(io.BytesIO(merged.content))
    assert len(reader.pages) == 2
    assert "Lohnabrechnung" in reader.pages[1].extract_text()
    export = await client.get(f"/staff/submissions/{reference}/xdomea.zip")
    with zipfile.ZipFile(io.BytesIO(export.content)) as bundle:
        manifest = etree.fromstring(bundle.read("manifest.xml"))
        schema().assertValid(manifest)
        ns = {"x": "urn:dokportal:xdomea-subset:1"}
        assert manifest.findtext(".//x:Kennzeichen", namespaces=ns) == reference
        names = [str(n) for n in manifest.xpath("//x:Dateiname/text()", namespaces=ns)]  # type: ignore[union-attr]
        digests = [str(d) for d in manifest.xpath("//x:Hashwert/text()", namespaces=ns)]  # type: ignore[union-attr]
        assert len(names) == 2
        for name, digest in zip(names, digests, strict=True):
            assert hashlib.sha256(bundle.read(name)).hexdigest() == digest


async def test_assign_status_and_internal_note(
    client: PortalClient, scene: dict[str, object]
) -> None:
    reference = scene["reference"]
    use(client, scene["a"])  # type: ignore[arg-type]
    page = f"/staff/submissions/{reference}"
    token = await csrf_of(client, page)
    assert (
        await client.post(f"{page}/assign", data={"_csrf": token, "assignee": "me"})
    ).status_code == 303
    assert (
        await client.post(f"{page}/status", data={"_csrf": token, "status": "in_progress"})
    ).status_code == 303
    note = "Kontoauszug fehlt noch, Rückruf vereinbart"
    assert (
        await client.post(f"{page}/notes", data={"_csrf": token, "body": note})
    ).status_code == 303
    row = await Submission.objects().where(Submission.reference == reference).first()
    assert row is not None and row.status == "in_progress" and row.assignee == scene["a_id"]
    assert note in (await client.get(page)).text
    assert "Anna" in (await client.get("/staff?mine=1")).text
    # Bad input: clear 400s, nothing changed.
    assert (
        await client.post(f"{page}/status", data={"_csrf": token, "status": "transferred"})
    ).status_code == 400
    assert (
        await client.post(f"{page}/assign", data={"_csrf": token, "assignee": "999999"})
    ).status_code == 400
    assert (
        await client.post(f"{page}/notes", data={"_csrf": token, "body": "  "})
    ).status_code == 400
    assert (await client.post(f"{page}/status", data={"status": "done"})).status_code == 403
    # The note never reaches the customer, nor the audit trail.
    use(client, scene["customer"])  # type: ignore[arg-type]
    receipt = await client.get(f"/documents/{reference}")
    assert note not in receipt.text and "In progress" in receipt.text
    assert not await AuditEvent.exists().where(AuditEvent.object_id.like("%Rückruf%"))


async def test_removing_a_staff_account_keeps_the_submission(
    client: PortalClient, scene: dict[str, object]
) -> None:
    """References to staff are set to null, never cascaded into the customer's documents."""
    from dokportal.staff.tables import StaffAccount, StaffSession

    reference = scene["reference"]
    use(client, scene["a"])  # type: ignore[arg-type]
    page = f"/staff/submissions/{reference}"
    token = await csrf_of(client, page)
    await client.post(f"{page}/assign", data={"_csrf": token, "assignee": "me"})
    await client.post(f"{page}/notes", data={"_csrf": token, "body": "Notiz"})
    await StaffSession.delete().where(StaffSession.staff == scene["a_id"])
    await StaffAccount.delete().where(StaffAccount.id == scene["a_id"])
    row = await Submission.objects().where(Submission.reference == reference).first()
    assert row is not None and row.assignee is None
