"""Bad uploads get a clear 4xx answer and leave nothing behind: no blob, no row, no 500."""

from __future__ import annotations

from pathlib import Path

import pytest

from dokportal.documents.tables import Submission
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.support import documents


def stored_blobs(settings: Settings) -> list[Path]:
    root = Path(settings.storage.folder)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def assert_nothing_stored(settings: Settings) -> None:
    assert stored_blobs(settings) == []
    assert await Submission.count() == 0
    assert await StoredFile.count() == 0


async def post_files(client: PortalClient, files: list[tuple[str, bytes, str]], **fields: str):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, "/documents/new")
    data = {"_csrf": token, "category": "payslip", **fields}
    return await client.post(
        "/documents", data=data, files=[("files", (name, body, kind)) for name, body, kind in files]
    )


async def test_too_large_is_413_with_limit_in_words(
    client: PortalClient, customer: Person, settings: Settings, tmp_path: Path
) -> None:
    big = documents.pdf() + b"\0" * (settings.upload.max_file_bytes)
    response = await post_files(client, [("gross.pdf", big, "application/pdf")])
    assert response.status_code == 413
    assert "20 MB" in response.text
    await assert_nothing_stored(settings)


async def test_second_file_too_large_removes_the_first(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    big = documents.pdf() + b"\0" * (settings.upload.max_file_bytes)
    response = await post_files(
        client, [("ok.jpg", documents.jpeg(), "image/jpeg"), ("gross.pdf", big, "application/pdf")]
    )
    assert response.status_code == 413
    await assert_nothing_stored(settings)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("programm.exe", b"MZ\x90\x00" + b"\0" * 100),
        ("rechnung.pdf", b"MZ\x90\x00this is a windows program"),
        ("bild.jpg", b"<html><script>alert(1)</script></html>"),
        ("photo.png", documents.jpeg()),  # a real JPEG claiming to be a PNG
        ("text.txt", b"just some text here"),
    ],
)
async def test_wrong_or_disguised_type_is_415(
    client: PortalClient, customer: Person, settings: Settings, name: str, body: bytes
) -> None:
    response = await post_files(client, [(name, body, "application/pdf")])
    assert response.status_code == 415
    assert "JPEG, PDF, PNG" in response.text
    await assert_nothing_stored(settings)


async def test_empty_file_is_400(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await post_files(client, [("leer.pdf", b"", "application/pdf")])
    assert response.status_code == 400
    assert "empty" in response.text
    await assert_nothing_stored(settings)


async def test_no_file_is_400(client: PortalClient, customer: Person, settings: Settings) -> None:
    token = await csrf_of(client, "/documents/new")
    response = await client.post(
        "/documents",
        data={"_csrf": token, "category": "payslip"},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 400
    assert "at least one file" in response.text
    await assert_nothing_stored(settings)


async def test_too_many_files_is_400(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    photo = documents.jpeg()
    files = [(f"seite-{i}.jpg", photo, "image/jpeg") for i in range(settings.upload.max_files + 1)]
    response = await post_files(client, files)
    assert response.status_code == 400
    assert str(settings.upload.max_files) in response.text
    await assert_nothing_stored(settings)


async def test_unknown_category_is_400(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await post_files(
        client, [("a.jpg", documents.jpeg(), "image/jpeg")], category="../../etc"
    )
    assert response.status_code == 400
    await assert_nothing_stored(settings)


async def test_message_too_long_is_400(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await post_files(
        client,
        [("a.jpg", documents.jpeg(), "image/jpeg")],
        message="x" * (settings.upload.max_message_chars + 1),
    )
    assert response.status_code == 400
    await assert_nothing_stored(settings)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not multipart at all",
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nabc',  # cut off
        b"--BOUNDARY\r\nX: " + b"y" * 10000 + b"\r\n\r\n--BOUNDARY--\r\n",  # oversized header
        b"--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--BOUNDARY--\r\n",
    ],
)
async def test_malformed_multipart_is_400(
    client: PortalClient, customer: Person, settings: Settings, body: bytes
) -> None:
    await csrf_of(client, "/documents/new")
    response = await client.post(
        "/documents",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=BOUNDARY"},
    )
    assert response.status_code in (400, 403)
    assert response.status_code != 500
    await assert_nothing_stored(settings)


async def test_missing_boundary_is_400(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await client.post(
        "/documents", content=b"x", headers={"content-type": "multipart/form-data"}
    )
    assert response.status_code == 400


async def test_missing_csrf_is_403_and_nothing_stored(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await client.post(
        "/documents",
        data={"category": "payslip"},
        files=[("files", ("a.jpg", documents.jpeg(), "image/jpeg"))],
    )
    assert response.status_code == 403
    await assert_nothing_stored(settings)


async def test_forged_csrf_is_403(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    response = await client.post(
        "/documents",
        data={"_csrf": "0" * 64, "category": "payslip"},
        files=[("files", ("a.jpg", documents.jpeg(), "image/jpeg"))],
    )
    assert response.status_code == 403
    await assert_nothing_stored(settings)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\erika\\scan.pdf", "scan.pdf"),
        ("bad\x1bname\x7f.pdf", "badname.pdf"),
        ("ä" * 300 + ".pdf", None),
    ],
)
async def test_hostile_filenames_are_display_metadata_only(
    client: PortalClient, customer: Person, settings: Settings, raw: str, shown: str | None
) -> None:
    response = await post_files(client, [(raw, documents.pdf(), "application/pdf")])
    assert response.status_code == 303, response.text
    row = await StoredFile.objects().first()
    assert row is not None
    if shown is not None:
        assert row.display_name == shown
    assert len(row.display_name) <= 255 and row.display_name.endswith(".pdf")
    # Stored under a generated id, never under the user's name.
    for blob in stored_blobs(settings):
        assert blob.name == row.blob_id
