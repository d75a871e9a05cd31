"""The customer's whole path in Chromium, on a phone and on a desktop, in three languages.

Activate with the code from the letter, set a password, send three photos and a PDF with a
category and a message, read the receipt, open a notice, sign out. Every step checks what
the person sees, in their language, from the portal's own catalogs.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, FilePayload, expect

from tests.e2e.conftest import Console, Portal, fill_activation, new_context, screenshot
from tests.e2e.text import t
from tests.support import documents

pytestmark = pytest.mark.e2e
SHOOT = {("de", "phone"), ("ar", "phone")}
COLOURS = [(200, 40, 40), (40, 160, 60), (30, 80, 200)]


def photos_and_pdf() -> list[FilePayload]:
    files: list[FilePayload] = [
        {
            "name": f"foto-{index + 1}.jpg",
            "mimeType": "image/jpeg",
            "buffer": documents.jpeg(1200, 900, colour),
        }
        for index, colour in enumerate(COLOURS)
    ]
    files.append(
        {"name": "kontoauszug.pdf", "mimeType": "application/pdf", "buffer": documents.pdf()}
    )
    return files


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["de", "ar", "uk"])
def test_customer_journey(browser: Browser, portal: Portal, lang: str, device: str) -> None:
    person = portal.customer("Erika Mustermann")
    title = {"de": "Bewilligungsbescheid", "ar": "قرار الموافقة", "uk": "Рішення"}[lang]
    portal.notice(person.number, title)
    context = new_context(browser, portal, device, lang)
    page = context.new_page()
    console = Console(page)
    shoot = (lang, device) in SHOOT

    def step(name: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
        if shoot:
            screenshot(page, f"{lang}-{device}", name)

    fill_activation(page, lang, person)
    step("01-activate")
    page.get_by_role("button", name=t(lang, "Activate"), exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        t(lang, "Hello, %(name)s", name=person.name)
    )
    expect(page.get_by_role("status")).to_have_text(t(lang, "Your access is active. Welcome!"))
    step("02-home")

    menu = page.get_by_role("navigation", name=t(lang, "Main menu"))
    menu.get_by_role("link", name=t(lang, "Send documents")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Send documents"))
    step("03-upload")
    page.get_by_label(t(lang, "What are you sending?")).select_option(
        label=t(lang, "Bank statement")
    )
    message = {
        "de": "Hallo, anbei die Auszüge.",
        "ar": "مرحبًا، مرفق الكشوف.",
        "uk": "Добрий день, надсилаю виписки.",
    }[lang]
    page.get_by_label(t(lang, "Message to your caseworker (optional)")).fill(message)
    page.get_by_label(t(lang, "Files"), exact=True).set_input_files(photos_and_pdf())
    step("04-upload-filled")
    page.get_by_role("button", name=t(lang, "Send"), exact=True).click()

    expect(page.get_by_role("status")).to_have_text(
        t(lang, "Thank you. Your documents have been sent to your jobcenter.")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Receipt"))
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(re.compile(r"BG-\d{4}-\d{6}"))
    expect(facts).to_contain_text(t(lang, "Bank statement"))
    expect(facts).to_contain_text(message)
    files = page.locator("ol.files > li")
    expect(files).to_have_count(4)
    for index, name in enumerate(["foto-1.jpg", "foto-2.jpg", "foto-3.jpg", "kontoauszug.pdf"]):
        expect(files.nth(index)).to_contain_text(name)
        expect(files.nth(index)).to_contain_text("SHA-256")
    step("05-receipt")

    notices = menu.get_by_role("link", name=re.compile("^" + re.escape(t(lang, "Notices"))))
    expect(notices).to_contain_text("1")
    notices.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Notices"))
    expect(page.locator("main")).to_contain_text(t(lang, "%(count)s unread", count=1))
    step("06-notices")
    page.locator("main").get_by_role("link", name=re.compile(re.escape(title))).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    download_link = page.get_by_role("link", name=t(lang, "Download notice (PDF)"))
    step("07-notice")
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename.endswith(".pdf")
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"

    page.get_by_role("button", name=t(lang, "Sign out")).click()
    expect(page.get_by_role("status")).to_have_text(t(lang, "You are signed out."))
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Sign in"))
    expect(page.get_by_role("navigation", name=t(lang, "Main menu"))).to_have_count(0)
    step("08-signed-out")
    page.goto("/documents")
    expect(page).to_have_url(re.compile(r"/signin"))
    assert console.errors == []
    context.close()
