"""Activation with one-time codes, sign-in, sessions that end (limits: test_signin_limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dokportal.accounts.tables import ActivationCode, Customer, Session
from dokportal.settings import Settings
from tests.portal.conftest import (
    PASSWORD,
    Person,
    PortalClient,
    activate,
    csrf_of,
    new_customer,
    sign_in,
)


async def test_wrong_code_is_refused_clearly(client: PortalClient) -> None:
    person = await new_customer()
    person.code = "AAAA-BBBB-CCCC"
    response = await activate(client, person)
    assert response.status_code == 400
    assert "activation code is not correct" in response.text
    assert "session" not in response.cookies


async def test_wrong_customer_number_gives_the_same_answer(client: PortalClient) -> None:
    person = await new_customer()
    person.number = "999Z999999"
    response = await activate(client, person)
    assert response.status_code == 400
    assert "activation code is not correct" in response.text


async def test_code_is_single_use(client: PortalClient) -> None:
    person = await new_customer()
    assert (await activate(client, person)).status_code == 303
    client.cookies.clear()
    again = await activate(client, person, password="Anderes-Passwort-9")
    assert again.status_code == 400
    assert "already been used" in again.text
    # The first password still works; the second attempt changed nothing.
    assert (await sign_in(client, person.number)).status_code == 303


async def test_code_typed_loosely_still_works(client: PortalClient) -> None:
    person = await new_customer()
    person.code = person.code.replace("-", " ").lower()
    assert (await activate(client, person)).status_code == 303


async def test_expired_code_is_refused(client: PortalClient) -> None:
    person = await new_customer()
    await ActivationCode.update(
        {ActivationCode.expires_at: datetime.now(UTC) - timedelta(minutes=1)}
    ).where(ActivationCode.customer == person.id)
    response = await activate(client, person)
    assert response.status_code == 400
    assert "expired" in response.text


async def test_reissued_code_replaces_the_old_one(client: PortalClient) -> None:
    from dokportal.accounts.services import issue_activation_code

    person = await new_customer()
    old = person.code
    person.code = await issue_activation_code(person.id, 30)
    stale = Person(number=person.number, code=old, id=person.id)
    assert (await activate(client, stale)).status_code == 400
    assert (await activate(client, person)).status_code == 303


async def test_password_rules_are_shown_and_enforced(client: PortalClient) -> None:
    page = await client.get("/activate")
    assert "at least 10 characters" in page.text
    person = await new_customer()
    for bad in ("kurz", "aaaaaaaaaaaaaa", f"x{person.number}yz!"):
        response = await activate(client, person, password=bad)
        assert response.status_code == 400, bad
        assert "Please choose another password" in response.text
    token = await csrf_of(client, "/activate")
    mismatch = await client.post(
        "/activate",
        data={
            "_csrf": token,
            "customer_number": person.number,
            "code": person.code,
            "password": PASSWORD,
            "password_repeat": PASSWORD + "x",
        },
    )
    assert "not the same" in mismatch.text
    row = await Customer.objects().where(Customer.id == person.id).first()
    assert row is not None and row.activated_at is None


async def test_activation_guessing_is_throttled(client: PortalClient, settings: Settings) -> None:
    person = await new_customer()
    person.code = "AAAA-BBBB-CCCC"
    statuses = [
        (await activate(client, person)).status_code
        for _ in range(settings.security.client_attempts_per_window + 1)
    ]
    assert statuses[-1] == 429
    assert set(statuses[:-1]) == {400}


async def test_sign_in_and_out(client: PortalClient, customer: Person) -> None:
    client.cookies.clear()
    assert (await client.get("/")).status_code == 303
    response = await sign_in(client, customer.number)
    assert response.status_code == 303
    assert (await client.get("/")).status_code == 200
    token = await csrf_of(client, "/")
    out = await client.post("/signout", data={"_csrf": token})
    assert out.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_session_id_is_renewed_at_sign_in(client: PortalClient, customer: Person) -> None:
    first = client.cookies.get("session")
    assert first
    await sign_in(client, customer.number)
    second = client.cookies.get("session")
    assert second and second != first
    client.cookies.set("session", first)
    assert (await client.get("/")).status_code == 303


async def test_sign_out_everywhere(client: PortalClient, customer: Person) -> None:
    phone = client.cookies.get("session")
    await sign_in(client, customer.number)
    token = await csrf_of(client, "/")
    await client.post("/signout", data={"_csrf": token, "everywhere": "1"})
    client.cookies.set("session", phone or "")
    assert (await client.get("/")).status_code == 303
    assert await Session.count() == 0


async def test_idle_session_expires(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    idle = timedelta(minutes=settings.security.session_idle_minutes + 1)
    await Session.update({Session.last_seen_at: datetime.now(UTC) - idle}, force=True)
    assert (await client.get("/")).status_code == 303


async def test_absolute_session_end(client: PortalClient, customer: Person) -> None:
    await Session.update({Session.expires_at: datetime.now(UTC) - timedelta(seconds=1)}, force=True)
    assert (await client.get("/")).status_code == 303


async def test_forms_without_csrf_are_403(client: PortalClient, customer: Person) -> None:
    for path in ("/signin", "/activate", "/signout"):
        response = await client.post(path, data={"customer_number": "x"})
        assert response.status_code == 403, path
    assert (await client.get("/")).status_code == 200  # sign-out without token did nothing


async def test_cookies_are_httponly_and_samesite(client: PortalClient) -> None:
    person = await new_customer()
    response = await activate(client, person)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


async def test_security_headers(client: PortalClient) -> None:
    response = await client.get("/signin")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_successful_sign_ins_from_one_address_are_not_throttled(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """A household or an office terminal behind one address signs in many times."""
    for _ in range(settings.security.client_attempts_per_window + 2):
        assert (await sign_in(client, customer.number)).status_code == 303


async def test_guessing_across_accounts_is_throttled_per_address(
    client: PortalClient, settings: Settings
) -> None:
    limit = settings.security.client_attempts_per_window
    statuses = [
        (await sign_in(client, f"999X{n:06d}", "geraten-geraten")).status_code
        for n in range(limit + 1)
    ]
    assert set(statuses[:-1]) == {401}
    assert statuses[-1] == 429


async def test_old_password_hashes_are_upgraded_at_sign_in(
    client: PortalClient, customer: Person
) -> None:
    from argon2 import PasswordHasher

    legacy = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)
    await Customer.update({Customer.password_hash: legacy}).where(Customer.id == customer.id)
    assert (await sign_in(client, customer.number)).status_code == 303
    row = await Customer.objects().where(Customer.id == customer.id).first()
    assert row is not None and row.password_hash != legacy
    assert "m=19456,t=2,p=1" in row.password_hash
    client.cookies.clear()
    assert (await sign_in(client, customer.number)).status_code == 303
