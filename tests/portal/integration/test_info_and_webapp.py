"""Public pages and the web app's files: what they say, and that none of them is personal."""

from __future__ import annotations

import json
import re

import pytest

from tests.portal.conftest import Person, PortalClient

FOOTER_LINKS = ('href="/leichte-sprache"', 'href="/barrierefreiheit"')


@pytest.mark.parametrize(
    "path", ["/signin", "/activate", "/offline", "/nothing", "/leichte-sprache"]
)
async def test_every_page_links_easy_language_and_accessibility(
    client: PortalClient, path: str
) -> None:
    page = await client.get(path)
    for link in FOOTER_LINKS:
        assert link in page.text, (path, link)


async def test_signed_in_pages_link_them_too(client: PortalClient, customer: Person) -> None:
    for path in ("/", "/documents", "/documents/new", "/notices"):
        page = await client.get(path)
        assert all(link in page.text for link in FOOTER_LINKS), path


async def test_easy_language_is_leichte_sprache_in_german(client: PortalClient) -> None:
    page = await client.get("/leichte-sprache", headers={"accept-language": "de"})
    assert page.status_code == 200
    assert "Leichte Sprache" in page.text
    assert "Kunden·nummer" in page.text  # the Mediopunkt of Leichte Sprache
    assert "kontakt@jobcenter-bergstrasse.example" in page.text
    assert "Diese Seite in Leichter Sprache auf Deutsch" not in page.text


async def test_other_languages_get_plain_language_and_the_german_original(
    client: PortalClient,
) -> None:
    page = await client.get("/leichte-sprache", headers={"accept-language": "tr"})
    assert 'lang="tr"' in page.text and "Kolay dil" in page.text
    assert 'href="/leichte-sprache?lang=de" lang="de"' in page.text


async def test_accessibility_statement_offers_a_way_to_report_barriers(
    client: PortalClient,
) -> None:
    page = await client.get("/barrierefreiheit", headers={"accept-language": "de"})
    assert "Erklärung zur Barrierefreiheit" in page.text
    assert 'href="mailto:kontakt@jobcenter-bergstrasse.example?subject=' in page.text
    assert 'href="tel:062510000-0"' in page.text
    assert "schlichtungsstelle-bgg.de" in page.text
    assert "BITV 2.0" in page.text


async def test_offline_page_is_never_personal(client: PortalClient, customer: Person) -> None:
    page = await client.get("/offline")
    assert "Erika Mustermann" not in page.text
    assert 'action="/signout"' not in page.text
    assert page.text.count("offline") >= 1
    # every enabled language, each marked with its own lang
    for code in ("de", "en", "uk", "ar", "tr", "ru", "fa"):
        assert re.search(rf'<p lang="{code}" dir="(ltr|rtl)"', page.text), code


async def test_manifest_follows_the_language_and_names_the_tenant(client: PortalClient) -> None:
    response = await client.get("/manifest.webmanifest", headers={"accept-language": "ar"})
    assert response.headers["content-type"].startswith("application/manifest+json")
    body = json.loads(response.text)
    assert body["lang"] == "ar" and body["dir"] == "rtl"
    assert body["name"].startswith("Jobcenter Bergstraße (Demo)")
    assert body["start_url"] == "/" and body["display"] == "standalone"
    assert {icon["sizes"] for icon in body["icons"]} == {"192x192", "512x512"}
    for icon in body["icons"]:
        assert (await client.get(icon["src"])).status_code == 200


async def test_service_worker_lists_only_static_files(client: PortalClient) -> None:
    response = await client.get("/sw.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assets = json.loads(re.search(r"var ASSETS = (\[.*?\]);", response.text).group(1))  # type: ignore[union-attr]
    assert "/static/portal.css" in assets and "/static/scan.js" in assets
    assert all(path.startswith("/static/") for path in assets)
    assert re.search(r'var VERSION = "[0-9a-f]{16}";', response.text)
    assert 'var OFFLINE = "/offline";' in response.text
