"""Staff sign-in: password, then TOTP; enrolment with QR and recovery codes; throttling."""

from __future__ import annotations

import re

from dokportal.audit.tables import AuditEvent
from dokportal.settings import Settings
from dokportal.staff import totp
from dokportal.staff.services import reset_second_factor
from dokportal.staff.tables import StaffAccount, StaffSession
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import (
    STAFF_PASSWORD,
    make_staff,
    staff_cookies,
    staff_post,
    use,
)

SECRET_RE = re.compile(r'class="secret">([A-Z2-7]+)<')
CODES_RE = re.compile(r"<li><code>([0-9A-Z-]+)</code></li>")


async def _password(client: PortalClient, username: str, password: str = STAFF_PASSWORD):  # type: ignore[no-untyped-def]
    return await staff_post(client, "/staff/signin", {"username": username, "password": password})


async def test_first_sign_in_enrols_totp_and_shows_recovery_codes(
    client: PortalClient, settings: Settings
) -> None:
    await make_staff(settings, "neu", "caseworker", "team-a", enrolled=False)
    response = await _password(client, "neu")
    assert response.status_code == 303 and response.headers["location"] == "/staff/enrol"
    # A partial session opens nothing but the enrolment page.
    assert (await client.get("/staff")).status_code == 303
    page = await client.get("/staff/enrol")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.text
    match = SECRET_RE.search(page.text)
    assert match
    secret = match.group(1)
    # The same pending secret on reload, until confirmed.
    assert secret in (await client.get("/staff/enrol")).text
    wrong = await staff_post(client, "/staff/enrol", {"code": "000000"}, "/staff/enrol")
    assert wrong.status_code == 401
    import pyotp

    done = await staff_post(
        client, "/staff/enrol", {"code": pyotp.TOTP(secret).now()}, "/staff/enrol"
    )
    assert done.status_code == 200
    codes = CODES_RE.findall(done.text)
    assert len(codes) == settings.staff.recovery_codes
    assert (await client.get("/staff")).status_code == 200
    row = await StaffAccount.objects().where(StaffAccount.username == "neu").first()
    assert row is not None and row.totp_enrolled_at is not None
    assert secret not in row.totp_wrapped  # stored wrapped, never in the clear


async def test_totp_sign_in_renews_the_session_and_refuses_replay(
    client: PortalClient, settings: Settings
) -> None:
    member = await make_staff(settings, "sb1", "caseworker", "team-a")
    first = await _password(client, "sb1")
    assert first.headers["location"] == "/staff/signin/code"
    partial = client.cookies.get("staff")
    code = member.code()
    ok = await staff_post(client, "/staff/signin/code", {"code": code}, "/staff/signin/code")
    assert ok.status_code == 303 and ok.headers["location"] == "/staff"
    full = client.cookies.get("staff")
    assert full and full != partial
    assert (await client.get("/staff")).status_code == 200
    # Signed out and back in: the same code (same 30-second step) is refused.
    client.cookies.clear()
    await _password(client, "sb1")
    replay = await staff_post(client, "/staff/signin/code", {"code": code}, "/staff/signin/code")
    assert replay.status_code == 401
    assert "already used" in replay.text
    actions = {e.action for e in await AuditEvent.objects()}
    assert {"staff.signin.totp", "staff.code.failed"} <= actions


async def test_recovery_code_works_once(client: PortalClient, settings: Settings) -> None:
    from dokportal.staff.services import new_recovery_codes

    member = await make_staff(settings, "sb2", "caseworker", "team-a")
    codes = await new_recovery_codes(member.id, 4)
    await _password(client, "sb2")
    used = await staff_post(client, "/staff/signin/code", {"code": codes[0]}, "/staff/signin/code")
    assert used.status_code == 303
    client.cookies.clear()
    await _password(client, "sb2")
    again = await staff_post(client, "/staff/signin/code", {"code": codes[0]}, "/staff/signin/code")
    assert again.status_code == 401


async def test_code_guessing_locks_the_account(client: PortalClient, settings: Settings) -> None:
    member = await make_staff(settings, "sb3", "caseworker", "team-a")
    await _password(client, "sb3")
    statuses = []
    for _ in range(settings.staff.max_failed_codes + 1):
        response = await staff_post(
            client, "/staff/signin/code", {"code": "123456"}, "/staff/signin/code"
        )
        statuses.append(response.status_code)
    assert statuses[:-1] == [401] * settings.staff.max_failed_codes
    assert statuses[-1] == 429
    # Locked: even the right code is refused now.
    right = await staff_post(
        client, "/staff/signin/code", {"code": member.code()}, "/staff/signin/code"
    )
    assert right.status_code == 429


async def test_reset_2fa_clears_a_code_lockout(client: PortalClient, settings: Settings) -> None:
    """A phone lost after several wrong codes: the admin's reset lets enrolment go ahead."""
    await make_staff(settings, "sb7", "caseworker", "team-a")
    await _password(client, "sb7")
    for _ in range(settings.staff.max_failed_codes + 1):
        last = await staff_post(
            client, "/staff/signin/code", {"code": "123456"}, "/staff/signin/code"
        )
    assert last.status_code == 429
    await reset_second_factor("sb7")
    client.cookies.clear()
    assert (await _password(client, "sb7")).headers["location"] == "/staff/enrol"
    page = await client.get("/staff/enrol")
    match = SECRET_RE.search(page.text)
    assert match
    import pyotp

    done = await staff_post(
        client, "/staff/enrol", {"code": pyotp.TOTP(match.group(1)).now()}, "/staff/enrol"
    )
    assert done.status_code == 200


async def test_wrong_password_is_401_and_audited(client: PortalClient, settings: Settings) -> None:
    await make_staff(settings, "sb4", "caseworker", "team-a")
    response = await _password(client, "sb4", "falsch")
    assert response.status_code == 401
    assert "not correct" in response.text
    assert await AuditEvent.exists().where(AuditEvent.action == "staff.signin.failed")


async def test_sessions_are_separate(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """A customer session never opens a staff page, a staff session never a customer page."""
    customer_cookies = dict(client.cookies)
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/staff")).status_code == 303
    assert (await client.get("/staff")).headers["location"].startswith("/staff/signin")
    member = await make_staff(settings, "sb5", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    assert (await client.get("/staff")).status_code == 200
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"].startswith("/signin")
    assert customer_cookies  # both kinds of cookie exist, under different names


async def test_reset_2fa_sends_the_next_sign_in_to_enrolment(
    client: PortalClient, settings: Settings
) -> None:
    member = await make_staff(settings, "sb6", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    await reset_second_factor("sb6")
    assert await StaffSession.count().where(StaffSession.staff == member.id) == 0
    assert (await client.get("/staff")).status_code == 303
    client.cookies.clear()
    response = await _password(client, "sb6")
    assert response.headers["location"] == "/staff/enrol"


async def test_sign_out_ends_the_staff_session(client: PortalClient, settings: Settings) -> None:
    member = await make_staff(settings, "sb7", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    token = await csrf_of(client, "/staff")
    out = await client.post("/staff/signout", data={"_csrf": token})
    assert out.status_code == 303
    assert (await client.get("/staff")).status_code == 303


def test_totp_window_and_replay_rules() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.current_step(now)
    assert totp.matching_step(secret, totp.code_at(secret, step), 0, 1, now) == step
    assert totp.matching_step(secret, totp.code_at(secret, step - 1), 0, 1, now) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, step - 2), 0, 1, now) is None
    assert totp.matching_step(secret, totp.code_at(secret, step), step, 1, now) is None
    assert totp.matching_step(secret, "12345", 0, 1, now) is None


async def test_sign_in_returns_to_the_page_asked_for(
    client: PortalClient, settings: Settings
) -> None:
    member = await make_staff(settings, "sb8", "caseworker", "team-a")
    asked = await client.get("/staff/customers")
    assert asked.headers["location"] == "/staff/signin?next=/staff/customers"
    page = await client.get(asked.headers["location"])
    assert 'name="next" value="/staff/customers"' in page.text
    first = await staff_post(
        client,
        "/staff/signin",
        {"username": "sb8", "password": STAFF_PASSWORD, "next": "/staff/customers"},
    )
    assert first.headers["location"] == "/staff/signin/code?next=%2Fstaff%2Fcustomers"
    done = await staff_post(
        client,
        "/staff/signin/code",
        {"code": member.code(), "next": "/staff/customers"},
        first.headers["location"],
    )
    assert done.headers["location"] == "/staff/customers"
    # Never anywhere else.
    client.cookies.clear()
    await staff_post(client, "/staff/signin", {"username": "sb8", "password": STAFF_PASSWORD})
    evil = await staff_post(
        client,
        "/staff/signin/code",
        {"code": member.code(member_step_after(member)), "next": "//evil.example/staff"},
        "/staff/signin/code",
    )
    assert evil.headers["location"] == "/staff"


def member_step_after(member: object) -> int:
    """The next step: the current one was just used (a code works once)."""
    return totp.current_step() + 1


async def test_staff_sessions_idle_out_and_end(client: PortalClient, settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    member = await make_staff(settings, "sb9", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    assert (await client.get("/staff")).status_code == 200
    idle = timedelta(minutes=settings.staff.session_idle_minutes + 1)
    await StaffSession.update({StaffSession.last_seen_at: datetime.now(UTC) - idle}, force=True)
    assert (await client.get("/staff")).status_code == 303
    use(client, await staff_cookies(settings, member))
    await StaffSession.update(
        {StaffSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}, force=True
    )
    assert (await client.get("/staff")).status_code == 303
