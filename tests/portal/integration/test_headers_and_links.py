"""Security headers on every response (router-level 404/405, static files, API, downloads,
error pages), and language links that never leave the site whatever path was asked for."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from dokportal.app import create_app
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from tests.portal.conftest import Person, PortalClient, portal_client
from tests.portal.integration.staff.conftest import (
    make_staff,
    put_in_team,
    staff_cookies,
    upload,
    use,
)

HREF_RE = re.compile(r'href="([^"]*)"')
SITE = "http://testserver"


def assert_secured(response: httpx.Response, *, hsts: bool = False) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-frame-options") == "DENY", where
    assert ("strict-transport-security" in headers) is hsts, where


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/x",
        "///evil.example/x",
        "/\\evil.example",
        "/\\\\evil.example/x",
        "/%2F%2Fevil.example/x",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/%09/evil.example",
        "/%2F%5Cevil.example",
    ],
)
async def test_language_links_of_a_404_stay_on_the_site(client: PortalClient, path: str) -> None:
    page = await client.get(SITE + path)
    assert page.status_code == 404
    assert_secured(page)
    links = [html.unescape(href) for href in HREF_RE.findall(page.text)]
    language_links = [link for link in links if "lang=" in link]
    assert len(language_links) == 7, links
    for link in links:
        # Where a browser would go: the same host, whatever the link says.
        assert urlsplit(urljoin(SITE + "/a/b", link)).netloc == "testserver", link
        assert "\\" not in link and not link.startswith("//"), link


async def test_language_links_keep_an_ordinary_path_and_query(client: PortalClient) -> None:
    page = await client.get("/signin?next=/documents&lang=de")
    assert 'href="/signin?next=%2Fdocuments&amp;lang=en"' in page.text


async def test_router_level_answers_and_static_files_carry_the_headers(
    client: PortalClient,
) -> None:
    not_found = await client.get("/no/such/page")
    assert not_found.status_code == 404
    assert_secured(not_found)
    not_allowed = await client.post("/healthz")
    assert not_allowed.status_code == 405
    assert_secured(not_allowed)
    static = await client.get("/static/portal.css")
    assert static.status_code == 200
    assert_secured(static)
    assert "no-store" not in static.headers.get("cache-control", "") and static.headers["etag"]
    assert not_found.headers["cache-control"] == "no-store"
    missing_static = await client.get("/static/nothing.css")
    assert missing_static.status_code == 404
    assert_secured(missing_static)
    api = await client.get("/api/v1/submissions")
    assert api.status_code == 401
    assert_secured(api)
    assert_secured(await client.get("/readyz"))
    assert_secured(await client.get("/schema/openapi.json"))


async def test_downloads_keep_their_sandbox_and_get_the_rest(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    reference = await upload(client)
    receipt = await client.get(f"/documents/{reference}/receipt.pdf")
    assert receipt.status_code == 200
    assert_secured(receipt)
    member = await make_staff(settings, "sb1", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    download = await client.get(f"/staff/submissions/{reference}/files/0")
    assert download.status_code == 200
    assert_secured(download)
    assert "sandbox" in download.headers["content-security-policy"]


@pytest.fixture
async def https_client(settings: Settings) -> AsyncIterator[PortalClient]:
    secure = settings.model_copy(update={"public_base_url": "https://portal.example"})
    async with portal_client(create_app(secure)) as test_client:
        yield test_client


async def test_hsts_on_every_response_over_https(https_client: PortalClient) -> None:
    for response in (
        await https_client.get("/no/such/page"),
        await https_client.post("/healthz"),
        await https_client.get("/static/portal.css"),
        await https_client.get("/signin"),
    ):
        assert_secured(response, hsts=True)
