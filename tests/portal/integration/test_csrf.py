"""CSRF tokens are bound to the browser's session and replaced when a session starts or ends."""

from __future__ import annotations

import pytest

from dokportal.accounts.services import start_session
from dokportal.settings import Settings
from tests.portal.conftest import PASSWORD, Person, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import (
    STAFF_PASSWORD,
    make_staff,
    staff_post,
)


async def test_a_token_from_before_sign_in_is_refused_after_it(
    client: PortalClient, customer: Person
) -> None:
    client.cookies.clear()
    before = await csrf_of(client)
    csrf_cookie = client.cookies.get("csrf")
    signed_in = await client.post(
        "/signin",
        data={"_csrf": before, "customer_number": customer.number, "password": PASSWORD},
    )
    assert signed_in.status_code == 303
    # Sign-in replaced the CSRF cookie along with the session.
    assert client.cookies.get("csrf") not in (None, csrf_cookie)
    stale = await client.post("/signout", data={"_csrf": before})
    assert stale.status_code == 403
    assert (await client.get("/")).status_code == 200  # still signed in
    fresh = await csrf_of(client, "/")
    assert fresh != before
    assert (await client.post("/signout", data={"_csrf": fresh})).status_code == 303


async def test_a_token_from_another_session_is_refused(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """Same CSRF cookie, another (valid) session of the same customer: the token does not
    carry over."""
    token = await csrf_of(client, "/")
    other = await start_session(customer.id, settings.security)
    client.cookies.set("session", other)
    assert (await client.get("/")).status_code == 200
    assert (await client.post("/signout", data={"_csrf": token})).status_code == 403
    fresh = await csrf_of(client, "/")
    assert fresh != token
    assert (await client.post("/signout", data={"_csrf": fresh})).status_code == 303


async def test_sign_out_replaces_the_csrf_cookie(client: PortalClient, customer: Person) -> None:
    token = await csrf_of(client, "/")
    cookie = client.cookies.get("csrf")
    assert (await client.post("/signout", data={"_csrf": token})).status_code == 303
    assert client.cookies.get("csrf") not in (None, cookie)
    # The signed-in page's token is void for the next person at this browser.
    response = await client.post(
        "/signin", data={"_csrf": token, "customer_number": "x", "password": "y"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("value", ["ä" * 64, "Зарплата", "😀", "\u202e" + "a" * 63, "\x00"])
async def test_a_token_in_any_script_is_403_not_500(client: PortalClient, value: str) -> None:
    await csrf_of(client)
    response = await client.post(
        "/signin", data={"_csrf": value, "customer_number": "123A000001", "password": "x"}
    )
    assert response.status_code == 403


async def test_a_staff_token_from_the_partial_session_is_refused_after_the_code(
    client: PortalClient, settings: Settings
) -> None:
    member = await make_staff(settings, "sb.csrf", "caseworker", "team-a")
    response = await staff_post(
        client, "/staff/signin", {"username": "sb.csrf", "password": STAFF_PASSWORD}
    )
    assert response.status_code == 303
    partial = await csrf_of(client, "/staff/signin/code")
    done = await client.post("/staff/signin/code", data={"_csrf": partial, "code": member.code()})
    assert done.status_code == 303
    assert (await client.get("/staff")).status_code == 200
    assert (await client.post("/staff/signout", data={"_csrf": partial})).status_code == 403
    fresh = await csrf_of(client, "/staff")
    assert (await client.post("/staff/signout", data={"_csrf": fresh})).status_code == 303
