"""The journey with the keyboard alone, visible focus at every stop, and form errors that
are announced and tied to their fields."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.e2e.checks import focus_problem
from tests.e2e.conftest import (
    PASSWORD,
    Console,
    Portal,
    intercept_file_choosers,
    new_context,
    signed_in,
)
from tests.e2e.text import t
from tests.support import documents

pytestmark = pytest.mark.e2e
MAX_TABS = 60


def tab_to(page: Page, selector: str, *, backwards: bool = False) -> None:
    """Press Tab until ``selector`` has focus; every stop on the way must show its focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        problem = focus_problem(page)
        assert not problem, f"on the way to {selector}: {problem}"
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reached with {key}")


def choose(page: Page, key: str, files: list[FilePayload]) -> None:
    """Open the focused file input or button with the keyboard and pick ``files``."""
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(key)
    chooser.value.set_files(files)


def pdf_file() -> FilePayload:
    return {"name": "mietvertrag.pdf", "mimeType": "application/pdf", "buffer": documents.pdf()}


def photo(name: str) -> FilePayload:
    return {"name": name, "mimeType": "image/jpeg", "buffer": documents.camera_photo()}


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_whole_journey_by_keyboard(browser: Browser, portal: Portal, lang: str) -> None:
    person = portal.customer()
    portal.notice(person.number, "Bescheid Dezember")
    context = new_context(browser, portal, "desktop", lang)
    page = context.new_page()
    console = Console(page)
    intercept_file_choosers(page)
    page.goto("/activate")

    tab_to(page, "a.skip")
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["x"] >= 0 and box["height"] >= 44  # shown when focused
    tab_to(page, "#customer_number")
    page.keyboard.type(person.number)
    tab_to(page, "#code")
    page.keyboard.type(person.code)
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    tab_to(page, "#password_repeat")
    page.keyboard.type(PASSWORD)
    tab_to(page, "form.stack button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        t(lang, "Hello, %(name)s", name=person.name)
    )

    tab_to(page, 'header a[href="/documents/new"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Send documents"))
    tab_to(page, "#category")
    page.keyboard.press("ArrowDown")
    assert page.locator("#category").input_value() != ""
    tab_to(page, "#message")
    page.keyboard.type("Per Tastatur gesendet")
    tab_to(page, "#scan-add")
    choose(page, "Space", [photo("seite-1.jpg")])
    expect(page.locator("#scan-list > li")).to_have_count(1)
    tab_to(page, "#combine")
    page.keyboard.press("Space")
    expect(page.locator("#combine")).to_be_checked()
    tab_to(page, "#files")
    choose(page, "Space", [photo("seite-2.jpg"), pdf_file()])
    tab_to(page, "form.stack button[type=submit]")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Receipt"))
    files = page.locator("ol.files > li")
    expect(files).to_have_count(2)  # the scan page and the photo as one PDF, and the PDF
    expect(files.nth(0)).to_contain_text("scan.pdf")
    expect(files.nth(1)).to_contain_text("mietvertrag.pdf")

    tab_to(page, 'header a[href="/notices"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Notices"))
    tab_to(page, 'main a[href^="/notices/"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bescheid Dezember")

    tab_to(page, "header button.link", backwards=True)
    page.keyboard.press("Space")
    expect(page.get_by_role("status")).to_have_text(t(lang, "You are signed out."))
    assert console.errors == []
    context.close()


def assert_announced_and_linked(page: Page, lang: str, fields: list[str]) -> None:
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("id", "form-error")
    expect(alert).to_be_focused()  # read out first, and keyboard users start next to it
    assert page.title().startswith(t(lang, "Error") + ":")
    for field in fields:
        locator = page.locator(f"#{field}")
        expect(locator).to_have_attribute("aria-invalid", "true")
        described = (locator.get_attribute("aria-describedby") or "").split()
        assert "form-error" in described, field


def test_form_errors_are_announced_and_linked_to_their_fields(
    browser: Browser, portal: Portal
) -> None:
    lang = "de"
    context = new_context(browser, portal, "phone", lang)
    page = context.new_page()

    page.goto("/signin")
    page.get_by_label(t(lang, "Customer number")).fill("999Z999999")
    page.get_by_label(t(lang, "Password")).fill("falsch-falsch")
    page.get_by_role("button", name=t(lang, "Sign in"), exact=True).click()
    assert_announced_and_linked(page, lang, ["customer_number", "password"])
    expect(page.get_by_role("alert")).to_contain_text(
        t(lang, "The customer number or the password is not correct.")
    )

    person = portal.customer()
    page.goto("/activate")
    page.get_by_label(t(lang, "Customer number")).fill(person.number)
    page.get_by_label(t(lang, "Activation code")).fill(person.code)
    page.get_by_label(t(lang, "New password")).fill("aaaaaaaaaaaa")
    page.get_by_label(t(lang, "Repeat the password")).fill("aaaaaaaaaaaa")
    page.get_by_role("button", name=t(lang, "Activate"), exact=True).click()
    assert_announced_and_linked(page, lang, ["password", "password_repeat"])
    described = page.locator("#password").get_attribute("aria-describedby") or ""
    assert "password-rules" in described.split()
    expect(page.locator("#code")).not_to_have_attribute("aria-invalid", "true")

    signed_in(page, lang, portal)
    page.goto("/documents/new")
    page.get_by_label(t(lang, "What are you sending?")).select_option(label=t(lang, "Other"))
    page.get_by_role("button", name=t(lang, "Send"), exact=True).click()
    assert_announced_and_linked(page, lang, ["files"])
    expect(page.get_by_role("alert")).to_have_text(t(lang, "Please choose at least one file."))
    assert "files-help" in (page.locator("#files").get_attribute("aria-describedby") or "")
    context.close()
