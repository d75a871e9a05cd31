"""Staff sign-in through an OpenID Connect provider: a real HTTP round trip with PKCE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dokportal.app import create_app
from dokportal.audit.tables import AuditEvent
from dokportal.staff.tables import StaffAccount, Team
from tests.portal.conftest import PortalClient, _empty_tables, make_settings, portal_client
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
async def oidc_client(
    tmp_path: Path, database_url: str, provider: Provider
) -> AsyncIterator[PortalClient]:
    settings = make_settings(
        tmp_path,
        database_url,
        oidc={
            "enabled": True,
            "issuer": provider.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "role_map": "jc-team-a=caseworker:team-a,jc-leads=team_lead:team-a,jc-it=admin",
        },
    )
    await _empty_tables()
    async with portal_client(create_app(settings)) as client:
        yield client


async def _through_provider(client: PortalClient) -> httpx.Response:
    start = await client.get("/staff/oidc/start")
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]
    async with httpx.AsyncClient() as browser:  # the browser's leg, over real HTTP
        answer = await browser.get(authorize)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    assert back.path == "/staff/oidc/callback"
    return await client.get(f"{back.path}?{back.query}")


async def test_sign_in_maps_groups_to_role_and_team(
    oidc_client: PortalClient, provider: Provider
) -> None:
    provider.user = {
        "sub": "u-4711",
        "preferred_username": "m.mueller",
        "name": "Maria Müller",
        "groups": ["jc-team-a", "jc-leads", "unrelated"],
    }
    page = await oidc_client.get("/staff/signin")
    assert "/staff/oidc/start" in page.text
    done = await _through_provider(oidc_client)
    assert done.status_code == 303 and done.headers["location"] == "/staff"
    assert (await oidc_client.get("/staff")).status_code == 200
    account = await StaffAccount.objects().where(StaffAccount.username == "m.mueller").first()
    assert account is not None and account.role == "team_lead"
    team = await Team.objects().where(Team.id == account.team).first()
    assert team is not None and team.slug == "team-a"
    assert await AuditEvent.exists().where(AuditEvent.action == "staff.signin.oidc")
    # Groups change at the IdP: the next sign-in follows them.
    provider.user["groups"] = ["jc-it"]
    oidc_client.cookies.clear()
    await _through_provider(oidc_client)
    again = await StaffAccount.objects().where(StaffAccount.id == account.id).first()
    assert again is not None and again.role == "admin" and again.team is None


async def test_user_without_a_mapped_group_is_refused(
    oidc_client: PortalClient, provider: Provider
) -> None:
    provider.user = {"sub": "u-1", "groups": ["somewhere-else"]}
    refused = await _through_provider(oidc_client)
    assert refused.status_code == 403
    assert await StaffAccount.count() == 0


async def test_forged_or_replayed_callbacks_fail(
    oidc_client: PortalClient, provider: Provider
) -> None:
    provider.user = {"sub": "u-2", "groups": ["jc-team-a"]}
    start = await oidc_client.get("/staff/oidc/start")
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(start.headers["location"])
    back = urlsplit(answer.headers["location"])
    # Another browser (without the state cookie) cannot complete this sign-in.
    cookies = dict(oidc_client.cookies)
    oidc_client.cookies.clear()
    assert (await oidc_client.get(f"{back.path}?{back.query}")).status_code == 400
    for name, value in cookies.items():
        oidc_client.cookies.set(name, value)
    assert await StaffAccount.count() == 0
    # That forged attempt did not use up the login: the real browser still completes it ...
    assert (await oidc_client.get(f"{back.path}?{back.query}")).status_code == 303
    # ... once: replaying the same callback fails, and so does an invented one.
    assert (await oidc_client.get(f"{back.path}?{back.query}")).status_code == 400
    assert (await oidc_client.get("/staff/oidc/callback?code=x&state=y")).status_code == 400
    assert await StaffAccount.count() == 1
