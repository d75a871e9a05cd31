"""Staff accounts, password + TOTP sign-in, recovery codes and sessions. No HTTP types.

A staff sign-in has two steps. The password step creates a *partial* session (stage
``totp`` or ``enrol``) that opens nothing but the second-factor page; only a correct TOTP or
recovery code turns it into a full session, under a fresh token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal.accounts import codes
from dokportal.accounts.passwords import hash_password_async, verify_password_async
from dokportal.crypto.keyring import Keyring
from dokportal.lib.errors import BadRequest, PortalError
from dokportal.sessions import limits, policy
from dokportal.sessions.store import SessionStore
from dokportal.settings import STAFF_ROLES, SecuritySettings, StaffSettings
from dokportal.staff import totp
from dokportal.staff.tables import RecoveryCode, StaffAccount, StaffSession, Team

SESSIONS = SessionStore(StaffSession, owner="staff")

FULL = "full"
NEEDS_TOTP = "totp"
NEEDS_ENROLMENT = "enrol"


class StaffSignInFailed(PortalError):
    status_code = 401


def _now() -> datetime:
    return datetime.now(UTC)


async def ensure_team(slug: str, name: str | None = None) -> Team:
    team = await Team.objects().where(Team.slug == slug).first()
    if team is None:
        team = Team(slug=slug, name=name or slug)
        await team.save()
    return team


async def create_staff(
    *,
    username: str,
    display_name: str,
    role: str,
    team_slug: str | None,
    password: str | None,
    email: str = "",
) -> StaffAccount:
    """A new local account; caseworkers and team leads belong to a team."""
    username = username.strip().lower()
    if not username or len(username) > 64:
        raise BadRequest("Please enter a user name of at most 64 characters.")
    if role not in STAFF_ROLES:
        raise BadRequest("Unknown role.")
    if role != "admin" and not team_slug:
        raise BadRequest("Caseworkers and team leads need a team.")
    if await StaffAccount.exists().where(StaffAccount.username == username):
        raise BadRequest("This user name is already taken.")
    team = await ensure_team(team_slug) if team_slug else None
    account = StaffAccount(
        username=username,
        display_name=display_name.strip()[:200] or username,
        role=role,
        team=team.id if team else None,
        password_hash=await hash_password_async(password) if password else "",
        email=email.strip()[:254],
    )
    await account.save()
    return account


async def sign_in_password(
    *, username: str, password: str, client: str, rules: SecuritySettings, timezone: str
) -> StaffAccount:
    """First step: user name and password, counted before the check like a customer's
    (see :mod:`dokportal.sessions.limits`): unknown and known names answer alike."""
    name = username.strip().lower()[:64]
    counters, pair = policy.sign_in(rules, "staff", name, client)
    async with limits.guarded(counters, reset_on_success=(pair,), timezone=timezone):
        account = await StaffAccount.objects().where(StaffAccount.username == name).first()
        valid = await verify_password_async(account.password_hash if account else "", password)
        if account is None or not valid or account.disabled:
            raise StaffSignInFailed("The user name or the password is not correct.")
        return account


def next_stage(account: StaffAccount) -> str:
    return NEEDS_TOTP if account.totp_enrolled_at is not None else NEEDS_ENROLMENT


@dataclass(frozen=True)
class Enrolment:
    secret_base32: str
    uri: str
    qr: str


async def enrolment(account: StaffAccount, keyring: Keyring, tenant: str, issuer: str) -> Enrolment:
    """The (pending) secret to scan; the same one on every reload until confirmed."""
    if account.totp_enrolled_at is not None:
        raise BadRequest("Two-factor sign-in is already set up.")
    if account.totp_wrapped:
        secret = totp.unwrap(
            keyring, account.totp_key_id, account.totp_wrapped, tenant, account.username
        )
    else:
        secret = totp.new_secret()
        key_id, wrapped = totp.wrap(keyring, secret, tenant, account.username)
        await StaffAccount.update(
            {StaffAccount.totp_key_id: key_id, StaffAccount.totp_wrapped: wrapped}
        ).where(StaffAccount.id == account.id)
        account.totp_key_id, account.totp_wrapped = key_id, wrapped
    uri = totp.provisioning_uri(secret, account.username, issuer)
    return Enrolment(secret_base32=totp.as_base32(secret), uri=uri, qr=totp.qr_data_uri(uri))


async def _check_totp(
    account: StaffAccount, code: str, keyring: Keyring, tenant: str, window: int
) -> bool:
    if not account.totp_wrapped:
        return False
    secret = totp.unwrap(
        keyring, account.totp_key_id, account.totp_wrapped, tenant, account.username
    )
    step = totp.matching_step(secret, code, account.totp_last_step, window)
    if step is None:
        return False
    # Conditional update: two parallel requests with the same code cannot both pass.
    updated = (
        await StaffAccount.update({StaffAccount.totp_last_step: step})
        .where((StaffAccount.id == account.id) & (StaffAccount.totp_last_step < step))
        .returning(StaffAccount.id)
    )
    return bool(updated)


async def _use_recovery_code(account: StaffAccount, code: str) -> bool:
    digest = codes.code_hash(code)
    used = (
        await RecoveryCode.update({RecoveryCode.used_at: _now()})
        .where(
            (RecoveryCode.staff == account.id)
            & (RecoveryCode.code_hash == digest)
            & RecoveryCode.used_at.is_null()
        )
        .returning(RecoveryCode.id)
    )
    return bool(used)


async def second_factor(
    *,
    account: StaffAccount,
    code: str,
    client: str,
    keyring: Keyring,
    tenant: str,
    security: SecuritySettings,
    staff: StaffSettings,
    timezone: str,
) -> str:
    """Check a TOTP or recovery code; returns ``totp`` or ``recovery``. Counted twice
    before the check: per client address and per account (from any address)."""
    counters = policy.second_factor(security, staff.max_failed_codes, account.id, client)
    async with limits.guarded(counters, timezone=timezone):
        fresh = await StaffAccount.objects().where(StaffAccount.id == account.id).first()
        if fresh is None or fresh.disabled:
            raise StaffSignInFailed("The code is not correct.")
        code = code.strip()[:32]
        if await _check_totp(fresh, code, keyring, tenant, staff.totp_valid_window):
            method = "totp"
        elif len(code) > 8 and await _use_recovery_code(fresh, code):
            method = "recovery"
        else:
            raise StaffSignInFailed("The code is not correct or was already used.")
        await StaffAccount.update({StaffAccount.last_sign_in_at: _now()}).where(
            StaffAccount.id == fresh.id
        )
        return method


async def confirm_enrolment(
    *,
    account: StaffAccount,
    code: str,
    client: str,
    keyring: Keyring,
    tenant: str,
    security: SecuritySettings,
    staff: StaffSettings,
    timezone: str,
) -> list[str]:
    """The first valid code finishes enrolment; returns fresh recovery codes (shown once)."""
    counters = policy.second_factor(security, staff.max_failed_codes, account.id, client)
    async with limits.guarded(counters, timezone=timezone):
        fresh = await StaffAccount.objects().where(StaffAccount.id == account.id).first()
        if fresh is None or fresh.totp_enrolled_at is not None:
            raise BadRequest("Two-factor sign-in is already set up.")
        if not await _check_totp(fresh, code, keyring, tenant, staff.totp_valid_window):
            raise StaffSignInFailed("The code is not correct. Check the time on your phone.")
        await StaffAccount.update(
            {StaffAccount.totp_enrolled_at: _now(), StaffAccount.last_sign_in_at: _now()}
        ).where(StaffAccount.id == fresh.id)
        return await new_recovery_codes(fresh.id, staff.recovery_codes)


async def new_recovery_codes(staff_id: int, count: int) -> list[str]:
    await RecoveryCode.delete().where(RecoveryCode.staff == staff_id)
    fresh = [codes.new_code() for _ in range(count)]
    for code in fresh:
        await RecoveryCode(staff=staff_id, code_hash=codes.code_hash(code)).save()
    return fresh


async def reset_second_factor(username: str) -> StaffAccount:
    """For a lost phone: forget the secret and recovery codes and end all sessions."""
    account = await StaffAccount.objects().where(StaffAccount.username == username.lower()).first()
    if account is None:
        raise BadRequest("No such staff account.")
    await StaffAccount.update(
        {
            StaffAccount.totp_key_id: "",
            StaffAccount.totp_wrapped: "",
            StaffAccount.totp_enrolled_at: None,
            StaffAccount.totp_last_step: 0,
        }
    ).where(StaffAccount.id == account.id)
    await RecoveryCode.delete().where(RecoveryCode.staff == account.id)
    await SESSIONS.end_all(account.id)
    # A fresh start: earlier wrong codes do not hold up the new enrolment.
    await limits.forget(policy.second_factor_account(account.id))
    return account


async def start_session(staff_id: int, stage: str, method: str, rules: StaffSettings) -> str:
    # A partial session lives only long enough to type a code.
    lifetime = (
        timedelta(hours=rules.session_absolute_hours) if stage == FULL else timedelta(minutes=10)
    )
    return await SESSIONS.start(staff_id, lifetime, stage=stage, method=method)


@dataclass(frozen=True)
class StaffContext:
    account: StaffAccount
    token_hash: str
    stage: str
    method: str

    @property
    def id(self) -> int:
        return int(self.account.id)

    @property
    def role(self) -> str:
        return str(self.account.role)

    @property
    def team_id(self) -> int | None:
        team = self.account.team
        return int(team) if team is not None else None


async def resume_session(token: str | None, rules: StaffSettings) -> StaffContext | None:
    row = await SESSIONS.resume(token, timedelta(minutes=rules.session_idle_minutes))
    if row is None:
        return None
    account = await StaffAccount.objects().where(StaffAccount.id == row["staff"]).first()
    if account is None or account.disabled:
        return None
    return StaffContext(
        account=account, token_hash=row["token_hash"], stage=row["stage"], method=row["method"]
    )


async def end_session(token_hash: str) -> None:
    await SESSIONS.end(token_hash)


async def colleagues(team_id: int | None) -> list[StaffAccount]:
    if team_id is None:
        return []
    rows: list[StaffAccount] = (
        await StaffAccount.objects()
        .where((StaffAccount.team == team_id) & (StaffAccount.disabled == False))  # noqa: E712
        .order_by(StaffAccount.display_name)
    )
    return rows
