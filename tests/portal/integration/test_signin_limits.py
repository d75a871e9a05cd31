"""Sign-in limits: counted atomically before the check, alike for unknown and known names,
slowing the guesser (pair pauses, client cap) without locking the owner out (ceiling)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from dokportal import tasks
from dokportal.accounts import passwords
from dokportal.app import create_app
from dokportal.sessions import limits, policy
from dokportal.sessions.tables import AttemptCounter
from dokportal.settings import Settings
from tests.portal.conftest import (
    PASSWORD,
    Person,
    PortalClient,
    _empty_tables,
    csrf_of,
    make_settings,
    new_customer,
    portal_client,
    sign_in,
)
from tests.portal.integration.staff.conftest import STAFF_PASSWORD, make_staff

WRONG = "falsch-falsch-falsch"


class Clock:
    """The limits' clock, moved by the test instead of sleeping through pauses."""

    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(limits, "clock", fake)
    return fake


@asynccontextmanager
async def from_address(client: PortalClient, address: str) -> AsyncIterator[PortalClient]:
    """Another browser on another address, talking to the same app."""
    async with PortalClient(client.app, address=address) as other:
        yield other


async def _post_signin(client: PortalClient, token: str, number: str, password: str) -> int:
    response = await client.post(
        "/signin", data={"_csrf": token, "customer_number": number, "password": password}
    )
    return response.status_code


async def test_thirty_parallel_guesses_pass_exactly_the_free_tries(
    client: PortalClient, customer: Person, settings: Settings, clock: Clock
) -> None:
    client.cookies.clear()
    token = await csrf_of(client)
    statuses = await asyncio.gather(
        *(_post_signin(client, token, customer.number, WRONG) for _ in range(30))
    )
    free = settings.security.signin_free_attempts
    assert Counter(statuses) == {401: free, 429: 30 - free}


async def test_thirty_parallel_guesses_over_many_names_hit_the_client_cap(
    client: PortalClient, settings: Settings, clock: Clock
) -> None:
    """Spraying one password over many (here unknown) customer numbers from one address."""
    token = await csrf_of(client)
    statuses = await asyncio.gather(
        *(_post_signin(client, token, f"999Z{n:06d}", WRONG) for n in range(30))
    )
    cap = settings.security.client_attempts_per_window
    assert Counter(statuses) == {401: cap, 429: 30 - cap}


async def test_pauses_grow_and_the_right_password_clears_them(
    client: PortalClient, customer: Person, settings: Settings, clock: Clock
) -> None:
    client.cookies.clear()
    rules = settings.security
    for _ in range(rules.signin_free_attempts):
        assert (await sign_in(client, customer.number, WRONG)).status_code == 401
    first = rules.signin_first_pause_seconds
    refused = await sign_in(client, customer.number, WRONG)
    assert refused.status_code == 429 and "Too many attempts" in refused.text
    clock.advance(first)
    assert (await sign_in(client, customer.number, WRONG)).status_code == 401
    # The next pause is twice as long: after the first pause again it is still refused.
    clock.advance(first)
    assert (await sign_in(client, customer.number)).status_code == 429
    clock.advance(first)
    assert (await sign_in(client, customer.number)).status_code == 303
    # Signed in: the pair's history is gone, typos get their quick tries again.
    client.cookies.clear()
    assert (await sign_in(client, customer.number, WRONG)).status_code == 401
    assert (await sign_in(client, customer.number)).status_code == 303


async def test_one_address_cannot_lock_the_owner_out(
    client: PortalClient, customer: Person, settings: Settings, clock: Clock
) -> None:
    """An attacker guessing as fast as the pauses allow, for a whole window: the owner
    still signs in from home at the end of it."""
    rules = settings.security
    attacker_address = "198.51.100.7"
    _, pair = policy.sign_in(rules, "customer", customer.number, attacker_address)
    end = clock.now + rules.account_window_minutes * 60 * 1000
    guesses = 0
    async with from_address(client, attacker_address) as attacker:
        while clock.now <= end:
            assert (await sign_in(attacker, customer.number, WRONG)).status_code == 401
            guesses += 1
            row = await AttemptCounter.select().where(AttemptCounter.key == pair).first()
            assert row is not None
            clock.now = max(clock.now + 1, int(row["blocked_until"]))
    assert rules.signin_free_attempts < guesses < rules.account_attempts_per_window
    async with from_address(client, "203.0.113.20") as owner:
        assert (await sign_in(owner, customer.number)).status_code == 303


async def test_the_account_ceiling_holds_across_addresses(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, clock: Clock
) -> None:
    """Thirty addresses guess one account at once: exactly the ceiling gets through."""
    settings = make_settings(
        tmp_path_factory.mktemp("ceiling"),
        database_url,
        security={"account_attempts_per_window": 25},
    )
    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app):
        person = await new_customer()
        browsers = [PortalClient(app, address=f"192.0.2.{n}") for n in range(1, 31)]
        try:
            tokens = [await csrf_of(browser) for browser in browsers]
            statuses = await asyncio.gather(
                *(
                    _post_signin(browser, token, person.number, WRONG)
                    for browser, token in zip(browsers, tokens, strict=True)
                )
            )
            assert Counter(statuses) == {401: 25, 429: 5}
            # Now even the right password waits for the window: from any address.
            late = PortalClient(app, address="192.0.2.200")
            async with late:
                assert (await sign_in(late, person.number, PASSWORD)).status_code == 429
                clock.advance(settings.security.account_window_minutes * 60 + 1)
                assert (await sign_in(late, person.number, WRONG)).status_code == 401
        finally:
            for browser in browsers:
                await browser.aclose()


def _comparable(response: httpx.Response, typed: str) -> tuple[int, str, list[tuple[str, str]]]:
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in {"set-cookie", "date"}
    ]
    return response.status_code, response.text.replace(typed, "<typed>"), headers


async def test_unknown_and_known_customers_get_identical_answers(
    client: PortalClient, customer: Person, settings: Settings, clock: Clock
) -> None:
    client.cookies.clear()
    unknown = customer.number[:-1] + ("2" if customer.number[-1] != "2" else "3")
    rounds = settings.security.signin_free_attempts + 2
    for _ in range(rounds):
        known = await sign_in(client, customer.number, WRONG)
        other = await sign_in(client, unknown, WRONG)
        assert _comparable(known, customer.number) == _comparable(other, unknown)
    assert known.status_code == 429


async def test_unknown_and_known_staff_get_identical_answers(
    client: PortalClient, settings: Settings, clock: Clock
) -> None:
    await make_staff(settings, "sb.bekannt", "caseworker", "team-a")
    client.cookies.clear()

    async def attempt(username: str) -> httpx.Response:
        token = await csrf_of(client, "/staff/signin")
        return await client.post(
            "/staff/signin",
            data={"_csrf": token, "username": username, "password": WRONG},
        )

    for _ in range(settings.security.signin_free_attempts + 2):
        known = await attempt("sb.bekannt")
        other = await attempt("sb.fremdes")
        assert _comparable(known, "sb.bekannt") == _comparable(other, "sb.fremdes")
    assert known.status_code == 429
    # And the staff member, from another address, signs in.
    async with from_address(client, "203.0.113.30") as desk:
        token = await csrf_of(desk, "/staff/signin")
        response = await desk.post(
            "/staff/signin",
            data={"_csrf": token, "username": "sb.bekannt", "password": STAFF_PASSWORD},
        )
        assert response.status_code == 303


async def test_unknown_numbers_check_a_password_hash_too(
    client: PortalClient, customer: Person, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    """Comparable timing: the slow hash runs for unknown numbers as for known ones."""
    checked: list[str] = []
    real = passwords.verify_password_async

    async def spy(stored: str, password: str) -> bool:
        checked.append(stored)
        return await real(stored, password)

    monkeypatch.setattr("dokportal.accounts.services.verify_password_async", spy)
    client.cookies.clear()
    await sign_in(client, "000X000000", WRONG)
    await sign_in(client, customer.number, WRONG)
    assert len(checked) == 2 and checked[0] == "" and checked[1].startswith("$argon2")


async def test_counters_keep_no_typed_name(
    client: PortalClient, customer: Person, clock: Clock
) -> None:
    client.cookies.clear()
    await sign_in(client, customer.number, WRONG)
    keys = [row["key"] for row in await AttemptCounter.select(AttemptCounter.key)]
    assert keys and not any(customer.number.lower() in key.lower() for key in keys)
    assert all(re.fullmatch(r"[a-z-]+:[0-9a-f]{64}", key) for key in keys)


def test_settings_refuse_a_ceiling_one_address_could_reach() -> None:
    with pytest.raises(ValueError, match="account_attempts_per_window"):
        Settings(security={"account_attempts_per_window": 10})


async def test_stale_counters_are_forgotten_by_the_periodic_task(
    client: PortalClient, customer: Person, settings: Settings, clock: Clock
) -> None:
    client.cookies.clear()
    await AttemptCounter.delete(force=True)  # the activation's counter, on the real clock
    for _ in range(settings.security.signin_free_attempts + 1):
        await sign_in(client, customer.number, WRONG)
    assert await AttemptCounter.count() == 3  # pair, client, account
    clock.advance(limits.LONGEST_WINDOW_SECONDS - 60)
    await tasks.run_once(settings, client.app.state.runtime.store)
    assert await AttemptCounter.count() == 3  # a window still open: kept
    clock.advance(120)
    await tasks.run_once(settings, client.app.state.runtime.store)
    assert await AttemptCounter.count() == 0
