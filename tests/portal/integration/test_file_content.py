"""Files are what they claim and safe to open (issue 12): every upload fully parsed before
it is kept, photos stored without location data, the stored name's extension following the
content, and PDFs with active content flagged for a safe copy. Through the HTTP upload route,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from dokportal.crypto import Keyring
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files import open_decrypted
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.support import documents


async def post_files(client: PortalClient, files: list[tuple[str, bytes, str]]):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, "/documents/new")
    data = {"_csrf": token, "category": "payslip"}
    return await client.post(
        "/documents", data=data, files=[("files", (name, body, kind)) for name, body, kind in files]
    )


async def stored(settings: Settings) -> list[tuple[StoredFile, bytes]]:
    store = build_store(settings.storage)
    keyring = Keyring.load(settings.keyring_path)
    result = []
    for link in await SubmissionFile.objects().order_by(SubmissionFile.position):
        row = await StoredFile.objects().where(StoredFile.id == link.stored_file).first()
        assert row is not None
        chunks = [c async for c in await open_decrypted(store, keyring, settings.tenant.slug, row)]
        result.append((row, b"".join(chunks)))
    return result


async def assert_nothing_stored(settings: Settings) -> None:
    root = Path(settings.storage.folder)
    assert not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []
    assert await Submission.count() == 0
    assert await StoredFile.count() == 0


def pixels(image: bytes) -> bytes:
    with Image.open(io.BytesIO(image)) as opened:
        return opened.tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
async def test_a_single_photo_is_stored_without_location_data(
    client: PortalClient, customer: Person, settings: Settings, fmt: str
) -> None:
    photo = documents.camera_photo(400, 300, fmt=fmt)
    assert documents.has_gps(photo)
    kind = "image/jpeg" if fmt == "JPEG" else "image/png"
    name = "Foto.jpg" if fmt == "JPEG" else "Foto.png"
    sent = await post_files(client, [(name, photo, kind)])
    assert sent.status_code == 303, sent.text
    response = await client.get(sent.headers["location"])  # the receipt

    ((row, content),) = await stored(settings)
    assert not documents.has_gps(content)
    assert b"Dokphone" not in content and b"secret comment" not in content
    assert pixels(content) == pixels(photo)  # the picture itself is untouched
    assert row.sha256 == hashlib.sha256(content).hexdigest() and row.size == len(content)
    assert row.sha256 in response.text  # the receipt shows the digest of what is stored
    assert "Location data and camera details were removed" in response.text
    receipt = await client.get(sent.headers["location"].split("?")[0] + "/receipt.pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(receipt.content)).pages)
    assert row.sha256 in text.replace("\n", "") and "Location data" in text


PHOTO = documents.camera_photo(400, 300)


@pytest.mark.parametrize(
    ("name", "body", "kind"),
    [
        ("Foto.jpg", PHOTO[: len(PHOTO) // 2], "image/jpeg"),
        ("Foto.jpg", PHOTO[:-2], "image/jpeg"),
        ("Bild.png", documents.png(300, 300)[:-20], "image/png"),
        ("Bild.png", documents.png(300, 300)[:-12], "image/png"),
        ("Brief.pdf", documents.pdf()[:-40], "application/pdf"),
        ("Brief.pdf", b"%PDF-1.7\n" + b"\0" * 5000 + b"\n%%EOF\n", "application/pdf"),
    ],
    ids=["jpeg-half", "jpeg-no-end", "png-cut", "png-no-iend", "pdf-cut", "pdf-garbage"],
)
async def test_truncated_or_damaged_files_are_refused_and_nothing_is_stored(
    client: PortalClient, customer: Person, settings: Settings, name: str, body: bytes, kind: str
) -> None:
    response = await post_files(
        client, [("ok.pdf", documents.pdf(), "application/pdf"), (name, body, kind)]
    )
    assert response.status_code == 415
    assert "is damaged or incomplete" in response.text and name in response.text
    await assert_nothing_stored(settings)


async def test_a_photo_with_too_many_pixels_is_refused_from_its_header(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    bomb = documents.png_claiming(20_000, 20_000)  # 400 megapixels in a few bytes
    response = await post_files(client, [("bombe.png", bomb, "image/png")])
    assert response.status_code == 413
    assert "too many pixels" in response.text
    await assert_nothing_stored(settings)


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("Lohnabrechnung.hta", "image/jpeg", "Lohnabrechnung.hta.jpg"),
        ("brief.html", "image/jpeg", "brief.html.jpg"),
        ("logo.svg", "image/png", "logo.svg.png"),
        ("IMG_0001.HEIC", "image/jpeg", "IMG_0001.HEIC.jpg"),
        ("scan", "application/pdf", "scan.pdf"),
        ("Kontoauszug.PDF", "application/pdf", "Kontoauszug.PDF"),
        ("Foto.jpeg", "image/jpeg", "Foto.jpeg"),
    ],
)
async def test_the_stored_name_ends_in_the_extension_of_the_content(
    client: PortalClient, customer: Person, settings: Settings, name: str, kind: str, expected: str
) -> None:
    body = {"image/jpeg": documents.jpeg(), "image/png": documents.png()}.get(
        kind
    ) or documents.pdf()
    response = await post_files(client, [(name, body, "application/octet-stream")])
    assert response.status_code == 303, response.text
    ((row, _),) = await stored(settings)
    assert row.display_name == expected


def pdf_with(change: str) -> bytes:
    """A real PDF (fpdf2) with one kind of active content added by pikepdf."""
    with pikepdf.open(io.BytesIO(documents.pdf())) as pdf:
        if change == "openaction-js":
            pdf.Root.OpenAction = pikepdf.Dictionary(
                S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hallo')")
            )
        elif change == "launch":
            pdf.pages[0].obj.AA = pikepdf.Dictionary(
                O=pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))
            )
        elif change == "embedded":
            pdf.attachments["rechnung.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00")
        elif change == "xfa":
            pdf.Root.AcroForm = pikepdf.Dictionary(
                Fields=pikepdf.Array(), XFA=pdf.make_stream(b"<xdp:xdp/>")
            )
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("openaction-js", "javascript,open-action"),
        ("launch", "additional-actions,launch"),
        ("embedded", "embedded-files"),
        ("xfa", "xfa"),
    ],
)
async def test_a_pdf_with_active_content_is_accepted_flagged_and_waits_for_its_safe_copy(
    client: PortalClient, customer: Person, settings: Settings, change: str, found: str
) -> None:
    active = pdf_with(change)
    response = await post_files(client, [("Bescheid.pdf", active, "application/pdf")])
    assert response.status_code == 303, response.text
    ((row, content),) = await stored(settings)
    assert content == active  # the original is kept as it came
    assert row.active_content == found
    assert row.safe_copy_state == "pending" and row.safe_copy is None


async def test_a_harmless_pdf_is_not_flagged(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await post_files(client, [("Brief.pdf", documents.pdf(), "application/pdf")])
    assert response.status_code == 303
    ((row, _),) = await stored(settings)
    assert row.active_content == "" and row.safe_copy_state == ""
