"""Installable web app: Chromium accepts the manifest, the service worker keeps only static
files and the offline page, and without a network the offline page is shown."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from playwright.sync_api import Browser, FilePayload, expect

from tests.e2e.conftest import Portal, new_context, signed_in
from tests.e2e.text import t
from tests.support import documents

pytestmark = pytest.mark.e2e

CACHED = """async () => {
  const found = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) found.push(new URL(request.url).pathname);
  }
  return found.sort();
}"""


def test_installable_and_offline_without_keeping_anything_personal(
    browser: Browser, portal: Portal
) -> None:
    lang = "de"
    context = new_context(browser, portal, "phone", lang)
    page = context.new_page()
    page.goto("/signin")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.scriptURL)").endswith(
        "/sw.js"
    )

    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito profiles, which Chromium never installs from.
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
    body = json.loads(manifest["data"])
    assert body["display"] == "standalone" and body["lang"] == "de"
    for icon in body["icons"]:
        response = page.request.get(icon["src"])
        assert response.ok
        with Image.open(io.BytesIO(response.body())) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"]

    # A signed-in customer sends a document, reads a receipt and a notice …
    person = signed_in(page, lang, portal)
    portal.notice(person.number, "Bescheid Januar")
    page.goto("/documents/new")
    page.locator("#category").select_option("other")
    letter: FilePayload = {
        "name": "brief.pdf",
        "mimeType": "application/pdf",
        "buffer": documents.pdf(),
    }
    page.locator("#files").set_input_files(letter)
    page.locator("form.stack button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Receipt"))
    page.goto("/notices")
    page.locator("main .list a").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bescheid Januar")

    # … and the device keeps nothing of it: only static files and the offline page.
    cached = page.evaluate(CACHED)
    assert "/offline" in cached and "/static/portal.css" in cached
    assert all(path.startswith("/static/") or path == "/offline" for path in cached), cached
    offline_page = page.evaluate("caches.match('/offline').then(r => r.text())")
    assert person.name not in offline_page and person.number not in offline_page

    context.set_offline(True)
    page.goto("/documents")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "No connection"))
    expect(page.locator("main")).to_contain_text(
        t("ar", "You are offline. Please check your internet connection and try again.")
    )
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
    assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == (
        "rgb(11, 83, 148)"
    )  # styles came from the cache
    context.set_offline(False)
    page.goto("/documents")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "My documents"))
    context.close()
