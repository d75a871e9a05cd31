"""File names in all seven languages, sent by Chromium and read by the caseworker.

Chromium writes each file's name into the multipart body as raw UTF-8 — the case that
answered 500 before issue 12. The demo customer (team 1) sends seven files; the demo
caseworker signs in with password and TOTP and must see exactly these names on the
submission page, and get them back in each download's Content-Disposition.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pyotp
import pytest
from playwright.sync_api import Browser, FilePayload, expect

from tests.e2e.conftest import PASSWORD, Portal, new_context, screenshot
from tests.e2e.text import t
from tests.support import documents

pytestmark = pytest.mark.e2e
STAFF_RE = re.compile(r"Demo caseworker:\s+(\S+) / (\S+)\s+\(shown once\)\n\s+TOTP secret:\s+(\w+)")
DEMO_CUSTOMER = "123D000001"
NAMES = [
    "Lohnabrechnung März.pdf",  # de
    "Payslip.pdf",  # en
    "Виписка з банку.pdf",  # uk
    "Зарплата.pdf",  # ru
    "كشف حساب.pdf",  # ar
    "Maaş bordrosu.pdf",  # tr
    "فیش\u200cحقوقی.pdf",  # fa, with the zero-width non-joiner Persian spelling uses
]


def test_caseworker_sees_names_in_every_script(browser: Browser, portal: Portal) -> None:
    code = portal.app.activation_code
    staff = STAFF_RE.search(portal.app.output)
    assert code and staff, portal.app.output

    customer = new_context(browser, portal, "desktop", "en")
    page = customer.new_page()
    page.goto("/activate")
    page.get_by_label(t("en", "Customer number")).fill(DEMO_CUSTOMER)
    page.get_by_label(t("en", "Activation code")).fill(code)
    page.get_by_label(t("en", "New password")).fill(PASSWORD)
    page.get_by_label(t("en", "Repeat the password")).fill(PASSWORD)
    page.get_by_role("button", name=t("en", "Activate"), exact=True).click()
    page.goto("/documents/new")
    page.get_by_label(t("en", "What are you sending?")).select_option(label=t("en", "Pay slip"))
    files: list[FilePayload] = [
        {"name": name, "mimeType": "application/pdf", "buffer": documents.pdf()} for name in NAMES
    ]
    page.get_by_label(t("en", "Files"), exact=True).set_input_files(files)
    page.get_by_role("button", name=t("en", "Send"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t("en", "Receipt"))
    receipt = page.locator("ol.files > li bdi")
    expect(receipt).to_have_text(NAMES)
    screenshot(page, "names", "customer-receipt")
    reference = re.search(r"/documents/([A-Z]+-\d{4}-\d{6})", page.url)
    assert reference
    customer.close()

    username, password, secret = staff.groups()
    worker = new_context(browser, portal, "desktop", "en")
    desk = worker.new_page()
    desk.goto("/staff/signin")
    desk.get_by_label(t("en", "User name")).fill(username)
    desk.get_by_label(t("en", "Password")).fill(password)
    desk.get_by_role("button", name=t("en", "Continue")).click()
    desk.get_by_label(t("en", "Code")).fill(pyotp.TOTP(secret).now())
    desk.get_by_role("button", name=t("en", "Sign in")).click()
    expect(desk).to_have_url(re.compile(r"/staff$"))
    desk.goto(f"/staff/submissions/{reference.group(1)}")
    expect(desk.locator("ol.files > li bdi")).to_have_text(NAMES)
    screenshot(desk, "names", "caseworker-submission")
    for position, name in enumerate(NAMES):
        response = desk.request.get(f"/staff/submissions/{reference.group(1)}/files/{position}")
        assert response.status == 200
        disposition = response.headers["content-disposition"]
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == name
    worker.close()
