"""The customer's whole path: activate, send documents, see the receipt, read a notice."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from pypdf import PdfReader

from dokportal.documents.tables import Submission
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.portal.helpers import send_notice_to
from tests.support import documents


async def test_activation_signs_in_and_greets(client: PortalClient, customer: Person) -> None:
    home = await client.get("/")
    assert home.status_code == 200
    assert "Erika Mustermann" in home.text


async def test_upload_photo_and_pdf_gives_receipt(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    photo, letter = documents.jpeg(), documents.pdf()
    token = await csrf_of(client, "/documents/new")
    response = await client.post(
        "/documents",
        data={
            "_csrf": token,
            "category": "bank_statement",
            "message": "Hallo, anbei die Unterlagen.",
        },
        files=[
            ("files", ("foto.jpg", photo, "image/jpeg")),
            ("files", ("konto.pdf", letter, "application/pdf")),
        ],
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/documents/BG-\d{4}-\d{6}\?sent=1", location)
    receipt = await client.get(location)
    assert receipt.status_code == 200
    reference = location.split("/")[2].split("?")[0]
    for name, content in (("foto.jpg", photo), ("konto.pdf", letter)):
        assert name in receipt.text
        assert hashlib.sha256(content).hexdigest() in receipt.text
    assert "Hallo, anbei die Unterlagen." in receipt.text

    pdf = await client.get(f"/documents/{reference}/receipt.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert reference in text
    assert hashlib.sha256(photo).hexdigest() in text.replace("\n", "")

    listing = await client.get("/documents")
    assert reference in listing.text
    assert (await Submission.count()) == 1

    blobs = [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()]
    assert len(blobs) == 2
    for blob in blobs:
        assert photo[:64] not in blob.read_bytes() and b"%PDF" not in blob.read_bytes()


async def test_notice_inbox_read_and_download(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    content = documents.pdf("Bewilligungsbescheid")
    await send_notice_to(settings, customer.number, "Bewilligungsbescheid 2027", content)
    inbox = await client.get("/notices/")
    assert "Bewilligungsbescheid 2027" in inbox.text
    home = await client.get("/")
    assert 'class="badge"' in home.text
    notice = await Notice.objects().first()
    assert notice is not None and notice.read_at is None
    page = await client.get(f"/notices/{notice.id}")
    assert page.status_code == 200
    opened = await Notice.objects().where(Notice.id == notice.id).first()
    assert opened is not None and opened.read_at is not None and opened.downloaded_at is None
    download = await client.get(f"/notices/{notice.id}/file")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["cache-control"] == "no-store"
    done = await Notice.objects().where(Notice.id == notice.id).first()
    assert done is not None and done.downloaded_at is not None
    assert done.read_at == opened.read_at
