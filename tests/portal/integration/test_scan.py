"""Photos combined into one PDF by the server: with the 'combine' box and as scan pages."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from pypdf import PdfReader

from dokportal.crypto import Keyring
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files import open_decrypted
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.support import documents

Part = tuple[str, tuple[str, bytes, str]]


def photo(name: str, colour: tuple[int, int, int] = (200, 30, 30)) -> Part:
    return ("files", (name, documents.camera_photo(color=colour), "image/jpeg"))


def page(name: str, content: bytes | None = None) -> Part:
    return ("pages", (name, content or documents.camera_photo(), "image/jpeg"))


async def send(
    client: PortalClient, fields: list[tuple[str, str]], files: list[Part]
) -> httpx.Response:
    """Post the form with its fields in the given order, then the files, like a browser."""
    token = await csrf_of(client, "/documents/new")
    boundary = "----dokportal-test-boundary"
    body = bytearray()
    for name, value in [("_csrf", token), *fields]:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for name, (filename, content, kind) in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
        ).encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return await client.post(
        "/documents",
        content=bytes(body),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )


async def stored_files(settings: Settings) -> list[tuple[str, str, bytes]]:
    submission = await Submission.objects().first()
    assert submission is not None
    store = build_store(settings.storage)
    keyring = Keyring.load(settings.keyring_path)
    result = []
    links = await SubmissionFile.objects().order_by(SubmissionFile.position)
    for link in links:
        row = await StoredFile.objects().where(StoredFile.id == link.stored_file).first()
        assert row is not None
        chunks = [c async for c in await open_decrypted(store, keyring, settings.tenant.slug, row)]
        result.append((row.display_name, row.content_type, b"".join(chunks)))
    return result


def blobs(settings: Settings) -> list[Path]:
    return [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()]


async def test_combine_box_makes_one_pdf_of_the_photos_and_keeps_the_pdf(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    letter = documents.pdf()
    response = await send(
        client,
        [("category", "rent"), ("combine", "1")],
        [
            photo("seite1.jpg", (220, 20, 20)),
            ("files", ("vertrag.pdf", letter, "application/pdf")),
            photo("seite2.jpg", (20, 20, 220)),
        ],
    )
    assert response.status_code == 303, response.text
    receipt = await client.get(response.headers["location"])
    assert "scan.pdf" in receipt.text and "vertrag.pdf" in receipt.text
    files = await stored_files(settings)
    assert [(name, kind) for name, kind, _ in files] == [
        ("scan.pdf", "application/pdf"),
        ("vertrag.pdf", "application/pdf"),
    ]
    assert files[1][2] == letter
    scan = files[0][2]
    reader = PdfReader(io.BytesIO(scan), strict=True)
    assert len(reader.pages) == 2
    for secret in (b"Dokphone", b"secret comment", b"GPS", b"Exif"):
        assert secret not in scan


async def test_scan_pages_always_become_one_pdf(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await send(
        client,
        [("category", "other")],
        [page("page-1.jpg"), page("page-2.jpg"), page("page-3.jpg"), photo("extra.jpg")],
    )
    assert response.status_code == 303, response.text
    files = await stored_files(settings)
    assert [name for name, _, _ in files] == ["scan.pdf", "extra.jpg"]
    assert len(PdfReader(io.BytesIO(files[0][2]), strict=True).pages) == 3
    # A single photo sent on its own keeps its pixels but loses its location (issue 12).
    assert not documents.has_gps(files[1][2])


async def test_combine_sent_after_the_files_does_not_apply(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """The stream is routed as it arrives; the page puts the box before the file inputs."""
    token_fields = [("category", "other")]
    response = await send(client, token_fields, [photo("a.jpg"), photo("b.jpg")])
    assert response.status_code == 303
    assert [name for name, _, _ in await stored_files(settings)] == ["a.jpg", "b.jpg"]


async def test_a_pdf_as_scan_page_is_refused_and_nothing_stored(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await send(
        client,
        [("category", "other")],
        [photo("a.jpg"), page("page-1.jpg"), page("letter.pdf", documents.pdf())],
    )
    assert response.status_code == 415
    assert "letter.pdf" in response.text
    assert 'aria-invalid="true"' in response.text and "form-error" in response.text
    assert blobs(settings) == []
    assert await Submission.count() == 0


async def test_too_many_pages_are_refused(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    limit = settings.upload.max_pages
    small = documents.jpeg(20, 20)
    response = await send(
        client, [("category", "other")], [page(f"p{i}.jpg", small) for i in range(limit + 1)]
    )
    assert response.status_code == 400
    assert f"at most {limit} pages" in response.text
    assert blobs(settings) == []


async def test_a_pixel_bomb_is_refused(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await send(
        client,
        [("category", "other")],
        [("pages", ("bomb.png", documents.png_claiming(20_000, 20_000), "image/png"))],
    )
    assert response.status_code == 413
    assert "too many pixels" in response.text
    assert blobs(settings) == []


async def test_csrf_must_still_come_first(client: PortalClient, customer: Person) -> None:
    boundary = "b"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="pages"; filename="p.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + documents.jpeg()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        "/documents",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 403
