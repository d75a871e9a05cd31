"""A PDF with active content: staff get a rendered safe copy by default, the original only
after a warning, and opening it is audited. The copy is made by the worker (tasks.py) in a
separate, resource-limited process and stored encrypted like every file."""

from __future__ import annotations

import io
import zipfile

import pikepdf
import pytest
from pypdf import PdfReader

from dokportal import tasks
from dokportal.audit.tables import AuditEvent
from dokportal.crypto import Keyring
from dokportal.files import safe_copies
from dokportal.files.pdf_check import inspect_pdf
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import Person, PortalClient
from tests.portal.integration.staff.conftest import (
    make_staff,
    put_in_team,
    staff_cookies,
    upload,
    use,
)
from tests.support import documents


def scripted_pdf() -> bytes:
    """A real two-page letter that runs JavaScript when opened and carries an attachment."""
    with pikepdf.open(io.BytesIO(documents.pdf("Bescheid mit Skript"))) as pdf:
        pdf.pages.append(pdf.pages[0])
        pdf.Root.OpenAction = pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.launchURL('https://evil.example')")
        )
        pdf.attachments["rechnung.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00")
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


@pytest.fixture
async def scene(client: PortalClient, customer: Person, settings: Settings) -> dict[str, object]:
    active = scripted_pdf()
    reference = await upload(
        client,
        ("brief.pdf", documents.pdf("harmlos"), "application/pdf"),
        ("Bescheid.pdf", active, "application/pdf"),
    )
    anna = await make_staff(settings, "anna", "caseworker", "team-a")
    await put_in_team(customer.number, "team-a")
    use(client, await staff_cookies(settings, anna))
    return {"reference": reference, "active": active}


async def original_openings() -> int:
    count: int = await AuditEvent.count().where(AuditEvent.action == "file.original_opened")
    return count


async def test_staff_see_the_warning_until_the_safe_copy_is_made_then_the_copy(
    client: PortalClient, settings: Settings, scene: dict[str, object]
) -> None:
    reference = scene["reference"]
    page = await client.get(f"/staff/submissions/{reference}")
    assert "Active content" in page.text and "a safe copy is being prepared" in page.text

    # Pending: the file link shows the warning page, never the original's bytes.
    pending = await client.get(f"/staff/submissions/{reference}/files/1?inline=1")
    assert pending.status_code == 200 and "text/html" in pending.headers["content-type"]
    assert "is being prepared" in pending.text and "javascript" in pending.text
    # A ZIP made now leaves the unsafe file out instead of handing out the original.
    bundle = await client.get(f"/staff/submissions/{reference}/bundle.zip")
    assert [n.split("-", 1)[1] for n in zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()] == [
        "brief.pdf"
    ]

    await tasks.run_once(
        settings, build_store(settings.storage), Keyring.load(settings.keyring_path)
    )

    (row,) = await StoredFile.objects().where(StoredFile.active_content != "")
    assert row.safe_copy_state == "ready" and row.safe_copy is not None
    copy = await client.get(f"/staff/submissions/{reference}/files/1?inline=1")
    assert copy.status_code == 200 and copy.headers["content-type"] == "application/pdf"
    assert "Bescheid.pdf" in copy.headers["content-disposition"]
    assert copy.content != scene["active"]
    assert inspect_pdf(copy.content) == ()  # no script, no attachment, no action left
    reader = PdfReader(io.BytesIO(copy.content))
    assert len(reader.pages) == 2  # every page rendered
    assert reader.attachments == {}
    page = await client.get(f"/staff/submissions/{reference}")
    assert "you see a safe copy" in page.text
    bundle = await client.get(f"/staff/submissions/{reference}/bundle.zip")
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert [n.split("-", 1)[1] for n in names] == ["brief.pdf", "Bescheid.pdf"]
    assert zipfile.ZipFile(io.BytesIO(bundle.content)).read(names[1]) == copy.content


async def test_the_original_only_after_the_warning_and_audited(
    client: PortalClient, settings: Settings, scene: dict[str, object]
) -> None:
    reference = scene["reference"]
    await tasks.run_once(
        settings, build_store(settings.storage), Keyring.load(settings.keyring_path)
    )
    warning = await client.get(f"/staff/submissions/{reference}/files/1?original=1")
    assert "text/html" in warning.headers["content-type"]
    assert "can run scripts" in warning.text and await original_openings() == 0

    original = await client.get(f"/staff/submissions/{reference}/files/1?original=1&confirm=1")
    assert original.status_code == 200 and original.content == scene["active"]
    assert original.headers["content-disposition"].startswith("attachment")  # never inline
    assert await original_openings() == 1


async def test_a_pdf_that_cannot_be_rendered_is_marked_failed_and_keeps_its_warning(
    client: PortalClient,
    settings: Settings,
    scene: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(pdf: bytes, *, seconds: float = 1.0) -> bytes:
        raise safe_copies.RenderFailed("the renderer ended with -9")

    monkeypatch.setattr(safe_copies, "render", refuse)
    await tasks.run_once(
        settings, build_store(settings.storage), Keyring.load(settings.keyring_path)
    )
    (row,) = await StoredFile.objects().where(StoredFile.active_content != "")
    assert row.safe_copy_state == "failed" and row.safe_copy is None
    page = await client.get(f"/staff/submissions/{scene['reference']}/files/1")
    assert "No safe copy could be made" in page.text


async def test_the_renderer_is_held_to_its_time_limit() -> None:
    # A real child process: a timeout far below its start-up time kills it.
    with pytest.raises(safe_copies.RenderFailed, match="too long"):
        await safe_copies.render(documents.pdf(), seconds=0.01)


async def test_retention_deletes_the_safe_copy_with_its_original(
    client: PortalClient, settings: Settings, scene: dict[str, object]
) -> None:
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from dokportal.documents.tables import Submission
    from dokportal.retention import services as retention

    store = build_store(settings.storage)
    await tasks.run_once(settings, store, Keyring.load(settings.keyring_path))
    assert await StoredFile.count() == 3  # two uploads and one safe copy
    await Submission.update(
        {
            Submission.status: "transferred",
            Submission.transferred_at: datetime.now(UTC) - timedelta(days=400),
        }
    ).where(Submission.reference == scene["reference"])
    report = await retention.run(store, 30)
    assert report.blobs == 3
    assert await StoredFile.count() == 0
    assert [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()] == []
