"""A letter photographed page by page becomes one PDF: with the scan widget, and without
JavaScript through the plain form's 'one document' box."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, expect
from pypdf import PdfReader

from tests.e2e.conftest import (
    Console,
    Portal,
    intercept_file_choosers,
    new_context,
    screenshot,
    signed_in,
)
from tests.e2e.text import t
from tests.support import documents

pytestmark = pytest.mark.e2e
RED, GREEN, BLUE = (210, 30, 30), (30, 170, 60), (30, 70, 210)


def camera(colour: tuple[int, int, int], name: str) -> FilePayload:
    # 3000x2250 like a phone camera; the script shrinks it to 2000 px before sending.
    return {
        "name": name,
        "mimeType": "image/jpeg",
        "buffer": documents.camera_photo(3000, 2250, colour),
    }


def dominant(jpeg: bytes) -> int:
    """Index of the strongest colour channel in the middle of a page image."""
    with Image.open(io.BytesIO(jpeg)) as image:
        pixel = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)
    return max(range(3), key=lambda channel: pixel[channel])


def pdf_pages(content: bytes) -> list[bytes]:
    """The JPEG of every page, in order."""
    reader = PdfReader(io.BytesIO(content), strict=True)
    return [page.images[0].data for page in reader.pages]


def show_scan(page: Page, lang: str) -> None:
    """A screen with the scan section at the top, for the README."""
    page.locator("#scan").evaluate("section => section.scrollIntoView()")
    screenshot(page, f"{lang}-phone", "04-scan-pages", full_page=False)


def reference_of(page: Page) -> str:
    match = re.search(r"/documents/([A-Z]+-\d{4}-\d{6})", page.url)
    assert match, page.url
    return match.group(1)


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_scan_widget_adds_reorders_removes_and_sends_one_pdf(
    browser: Browser, portal: Portal, lang: str
) -> None:
    context = new_context(browser, portal, "phone", lang)
    page = context.new_page()
    console = Console(page)
    intercept_file_choosers(page)
    signed_in(page, lang, portal)
    page.goto("/documents/new")
    scan = page.locator("#scan")
    expect(scan).to_be_visible()
    expect(page.locator("#camera")).to_have_count(0)  # the plain photo input gave way
    page.get_by_label(t(lang, "What are you sending?")).select_option(label=t(lang, "Other"))

    add = page.get_by_role("button", name=t(lang, "Add a page with the camera"))
    status = page.locator("#scan-status")
    items = page.locator("#scan-list > li")
    for number, colour in enumerate([RED, GREEN, BLUE], start=1):
        with page.expect_file_chooser() as chooser:
            add.click()
        chooser.value.set_files(camera(colour, f"IMG_000{number}.jpg"))
        expect(items).to_have_count(number)
        expect(status).to_contain_text(t(lang, "Page %(page)s added.", page=number))
    expect(status).to_contain_text(t(lang, "Pages in this document: %(count)s", count=3))
    for index in range(3):
        thumb = items.nth(index).get_by_role("img", name=t(lang, "Page %(page)s", page=index + 1))
        expect(thumb).to_be_visible()
        assert thumb.evaluate("img => img.naturalWidth") > 0
    if lang == "de":
        show_scan(page, lang)

    page_3 = t(lang, "Page %(page)s", page=3)
    items.nth(2).get_by_role("button", name=f"{t(lang, 'Move up')}: {page_3}").click()
    expect(status).to_have_text(
        t(lang, "Page %(from)s is now page %(page)s.", page=2, **{"from": 3})
    )
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"{t(lang, 'Move up')}: {t(lang, 'Page %(page)s', page=2)}"
    page_1 = t(lang, "Page %(page)s", page=1)
    items.nth(0).get_by_role("button", name=f"{t(lang, 'Remove')}: {page_1}").click()
    expect(items).to_have_count(2)
    expect(status).to_contain_text(t(lang, "Page %(page)s removed.", page=1))
    expect(items.nth(0).get_by_role("button", name=re.compile(t(lang, "Move up")))).to_be_disabled()
    if lang == "ar":
        show_scan(page, lang)

    page.get_by_role("button", name=t(lang, "Send"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Receipt"))
    files = page.locator("ol.files > li")
    expect(files).to_have_count(1)
    expect(files.first).to_contain_text("scan.pdf")

    (stored,) = portal.stored(reference_of(page))
    assert stored.content_type == "application/pdf"
    pages = pdf_pages(stored.content)
    assert [dominant(jpeg) for jpeg in pages] == [2, 1]  # blue, then green; red removed
    for jpeg in pages:
        assert not documents.has_gps(jpeg) and b"Dokphone" not in jpeg
        with Image.open(io.BytesIO(jpeg)) as image:
            assert image.size == (2000, 1500)  # shrunk in the browser, not only on the server
    assert b"Dokphone" not in stored.content and b"GPS" not in stored.content
    assert console.errors == []
    context.close()


def test_without_javascript_the_one_document_box_combines_photos(
    browser: Browser, portal: Portal
) -> None:
    lang = "de"
    context = new_context(browser, portal, "phone", lang, java_script_enabled=False)
    page = context.new_page()
    signed_in(page, lang, portal)
    page.goto("/documents/new")
    expect(page.locator("#scan")).to_be_hidden()
    expect(page.get_by_label(t(lang, "Or take a photo"))).to_be_visible()
    page.get_by_label(t(lang, "What are you sending?")).select_option(label=t(lang, "Other"))
    page.get_by_label(t(lang, "My photos are pages of one letter: send them as one PDF")).check()
    letter = documents.pdf()
    chosen: list[FilePayload] = [
        camera(GREEN, "seite-1.jpg"),
        {"name": "vertrag.pdf", "mimeType": "application/pdf", "buffer": letter},
        camera(RED, "seite-2.jpg"),
    ]
    page.get_by_label(t(lang, "Files"), exact=True).set_input_files(chosen)
    page.get_by_role("button", name=t(lang, "Send"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Receipt"))
    files = page.locator("ol.files > li")
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_contain_text("scan.pdf")
    expect(files.nth(1)).to_contain_text("vertrag.pdf")

    scan, kept = portal.stored(reference_of(page))
    assert kept.content == letter
    pages = pdf_pages(scan.content)
    assert [dominant(jpeg) for jpeg in pages] == [1, 0]
    for jpeg in pages:
        assert not documents.has_gps(jpeg)
        with Image.open(io.BytesIO(jpeg)) as image:
            assert max(image.size) == 2200  # shrunk by the server alone
    context.close()
