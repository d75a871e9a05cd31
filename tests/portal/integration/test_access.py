"""Who may call what: every route for an anonymous visitor, the owner and another customer.

The table below must name every route the app has; a new route without a rule fails here.
"""

from __future__ import annotations

import pytest
from litestar import Litestar

from dokportal.documents.tables import Submission
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from tests.portal.conftest import PortalClient, activate, csrf_of, new_customer
from tests.portal.helpers import send_notice_to
from tests.support import documents

# route → expected status for (anonymous, owner, other customer). 303 = sent to sign-in.
OWN = {"anonymous": 303, "owner": 200, "other": 404}
SIGNED_IN = {"anonymous": 303, "owner": 200, "other": 200}
PUBLIC = {"anonymous": 200, "owner": 200, "other": 200}
RULES: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): SIGNED_IN,
    ("GET", "/documents"): SIGNED_IN,
    ("GET", "/documents/new"): SIGNED_IN,
    ("POST", "/documents"): {"anonymous": 303, "owner": 303, "other": 303},
    ("GET", "/documents/{reference:str}"): OWN,
    ("GET", "/documents/{reference:str}/receipt.pdf"): OWN,
    ("GET", "/notices"): SIGNED_IN,
    ("GET", "/notices/{notice_id:int}"): OWN,
    ("GET", "/notices/{notice_id:int}/file"): OWN,
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): {"anonymous": 401, "owner": 401, "other": 401},
    ("GET", "/activate"): PUBLIC,
    ("POST", "/activate"): {"anonymous": 400, "owner": 400, "other": 400},
    ("POST", "/signout"): {"anonymous": 303, "owner": 303, "other": 303},
    ("GET", "/leichte-sprache"): PUBLIC,
    ("GET", "/barrierefreiheit"): PUBLIC,
    ("GET", "/offline"): PUBLIC,
    ("GET", "/manifest.webmanifest"): PUBLIC,
    ("GET", "/sw.js"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
}


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", set()):
            if method in {"HEAD", "OPTIONS"}:
                continue
            found.add((method, route.path.rstrip("/") or "/"))
    return found


def test_every_route_has_a_rule(client: PortalClient) -> None:
    assert isinstance(client.app, Litestar)
    assert app_routes(client.app) == set(RULES)


@pytest.fixture
async def world(client: PortalClient, settings: Settings) -> dict[str, object]:
    """Owner with a submission and a notice, and a second customer."""
    owner = await new_customer("111A000001", "Owner")
    other = await new_customer("222B000002", "Other")
    token = await csrf_of(client, "/activate")
    assert (await activate(client, owner)).status_code == 303
    token = await csrf_of(client, "/documents/new")
    upload = await client.post(
        "/documents",
        data={"_csrf": token, "category": "rent"},
        files=[("files", ("miete.pdf", documents.pdf(), "application/pdf"))],
    )
    assert upload.status_code == 303
    await send_notice_to(settings, owner.number, "Bescheid", documents.pdf())
    submission = await Submission.objects().first()
    notice = await Notice.objects().first()
    assert submission is not None and notice is not None
    owner_cookies = dict(client.cookies)
    client.cookies.clear()
    assert (await activate(client, other)).status_code == 303
    other_cookies = dict(client.cookies)
    client.cookies.clear()
    return {
        "reference": submission.reference,
        "notice_id": notice.id,
        "cookies": {"anonymous": {}, "owner": owner_cookies, "other": other_cookies},
        "people": {"owner": owner, "other": other},
    }


def concrete(path: str, world: dict[str, object]) -> str:
    return (
        path.replace("{reference:str}", str(world["reference"]))
        .replace("{notice_id:int}", str(world["notice_id"]))
        .replace("{file_path:path}", "portal.css")
    )


@pytest.mark.parametrize("who", ["anonymous", "owner", "other"])
async def test_access_table(client: PortalClient, world: dict[str, object], who: str) -> None:
    cookies: dict[str, dict[str, str]] = world["cookies"]  # type: ignore[assignment]
    for (method, path), expected in RULES.items():
        client.cookies.clear()
        for name, value in cookies[who].items():
            client.cookies.set(name, value)
        url = concrete(path, world)
        if method == "GET":
            response = await client.get(url)
        else:
            token = await csrf_of(client, "/signin")
            for name, value in cookies[who].items():
                client.cookies.set(name, value)
            if path == "/documents":
                response = await client.post(
                    url,
                    data={"_csrf": token, "category": "other"},
                    files=[("files", ("x.pdf", documents.pdf(), "application/pdf"))],
                )
            else:
                response = await client.post(url, data={"_csrf": token})
        assert response.status_code == expected[who], (method, path, who, response.text[:300])
        if expected[who] == 303 and path not in {"/documents", "/signout"}:
            assert response.headers["location"].startswith("/signin")


async def test_guessing_ids_never_reveals(client: PortalClient, world: dict[str, object]) -> None:
    cookies: dict[str, dict[str, str]] = world["cookies"]  # type: ignore[assignment]
    for name, value in cookies["other"].items():
        client.cookies.set(name, value)
    for url in (
        "/notices/999999",
        "/notices/999999/file",
        "/documents/BG-2026-999999",
        "/documents/BG-2026-999999/receipt.pdf",
        "/notices/abc",
    ):
        response = await client.get(url)
        assert response.status_code == 404, url
