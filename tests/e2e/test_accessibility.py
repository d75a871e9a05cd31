"""BITV 2.0 / WCAG 2.1 AA in Chromium: every customer page, every language, phone and desktop.

One pass per device visits each page in each of the seven languages and runs, on the same
load: axe-core (no serious or critical violation), no sideways scrolling or overflowing
text, the writing direction and the main column's alignment, and on the phone touch
targets of at least 44 px and reflow at 320 CSS px (400 % zoom of a 1280 px window).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from dokportal.i18n.negotiation import direction
from dokportal.settings import SUPPORTED_LANGUAGES
from tests.e2e.checks import (
    axe_problems,
    chevron_scale,
    direction_problems,
    overflow_problems,
    touch_target_problems,
)
from tests.e2e.conftest import PHONE, Portal, new_context, signed_in
from tests.support import documents

pytestmark = pytest.mark.e2e


@dataclass
class Visit:
    name: str
    go: Callable[[Page, str], object]
    signed_in: bool


def _open(path: str) -> Callable[[Page, str], object]:
    def go(page: Page, lang: str) -> object:
        separator = "&" if "?" in path else "?"
        return page.goto(f"{path}{separator}lang={lang}")

    return go


def _activation_error(page: Page, lang: str) -> None:
    page.goto(f"/activate?lang={lang}")
    page.locator("#customer_number").fill("000X000000")
    page.locator("#code").fill("AAAA-BBBB-CCCC")
    page.locator("#password").fill("Sonnenblume-2026")
    page.locator("#password_repeat").fill("Sonnenblume-2026")
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator("#form-error")).to_be_visible()


def _upload_error(page: Page, lang: str) -> None:
    page.goto(f"/documents/new?lang={lang}")
    page.locator("#category").select_option(index=1)
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator("#form-error")).to_be_visible()


def visits(reference: str, notice_path: str) -> list[Visit]:
    anonymous = [
        Visit("sign-in", _open("/signin"), False),
        Visit("activate", _open("/activate"), False),
        Visit("activate-error", _activation_error, False),
        Visit("easy-language", _open("/leichte-sprache"), False),
        Visit("accessibility", _open("/barrierefreiheit"), False),
        Visit("offline", _open("/offline"), False),
        Visit("not-found", _open("/nothing-here"), False),
    ]
    customer = [
        Visit("home", _open("/"), True),
        Visit("upload", _open("/documents/new"), True),
        Visit("upload-error", _upload_error, True),
        Visit("documents", _open("/documents"), True),
        Visit("receipt", _open(f"/documents/{reference}"), True),
        Visit("notices", _open("/notices"), True),
        Visit("notice", _open(notice_path), True),
    ]
    return anonymous + customer


def prepare_customer(page: Page, portal: Portal) -> tuple[str, str]:
    """A customer with one submission and one notice: a receipt and a notice to look at."""
    person = signed_in(page, "de", portal)
    portal.notice(person.number, "Bewilligungsbescheid")
    page.goto("/documents/new")
    page.locator("#category").select_option("payslip")
    page.locator("#message").fill("Lohnabrechnung Oktober")
    letter: FilePayload = {
        "name": "lohn.pdf",
        "mimeType": "application/pdf",
        "buffer": documents.pdf(),
    }
    page.locator("#files").set_input_files([letter])
    page.locator("form.stack button[type=submit]").click()
    match = re.search(r"/documents/([A-Z]+-\d{4}-\d{6})", page.url)
    assert match, page.url
    page.goto("/notices")
    notice_path = page.locator("main .list a").first.get_attribute("href")
    assert notice_path
    return match.group(1), notice_path


@pytest.mark.timeout(600)
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_every_page_in_every_language(browser: Browser, portal: Portal, device: str) -> None:
    anonymous = new_context(browser, portal, device, "de").new_page()
    customer = new_context(browser, portal, device, "de").new_page()
    reference, notice_path = prepare_customer(customer, portal)
    problems: list[str] = []
    for lang in SUPPORTED_LANGUAGES:
        for visit in visits(reference, notice_path):
            page = customer if visit.signed_in else anonymous
            visit.go(page, lang)
            where = f"{device} {lang} {visit.name}"
            expect(page.locator("html")).to_have_attribute("lang", lang)
            found = axe_problems(page)
            found += overflow_problems(page)
            found += direction_problems(page, direction(lang))
            if device == "phone":
                found += touch_target_problems(page)
                page.set_viewport_size({"width": 320, "height": 640})
                found += [f"at 320 px: {p}" for p in overflow_problems(page)]
                page.set_viewport_size(PHONE["viewport"])
            if visit.name == "home":
                # The tiles' "forward" chevron points the reading direction.
                scale = chevron_scale(page)
                assert scale is not None
                if (scale < 0) != (direction(lang) == "rtl"):
                    found.append(f"chevron not mirrored for {direction(lang)} ({scale})")
            problems += [f"{where}: {problem}" for problem in found]
    assert not problems, "\n".join(problems)
