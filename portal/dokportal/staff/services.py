"""Staff accounts, password + TOTP sign-in, recovery codes and sessions. No HTTP types.

A staff sign-in has two steps. The password step creates a *partial* session (stage
``totp`` or ``enrol``) that opens nothing but the second-factor page; only a correct TOTP or
recovery code turns it into a full session, under a fresh token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal.accounts import codes, throttle
from dokportal.accounts.passwords import hash_password_async, verify_password_async
from dokportal.crypto.keyring import Keyring
from dokportal.lib.errors import BadRequest, PortalError, TooManyAttempts
from dokportal.lib.formatting import clock_time
from dokportal.settings import STAFF_ROLES, SecuritySettings, StaffSettings
from dokportal.staff import totp
from dokportal.staff.tables import RecoveryCode, StaffAccount, StaffSession, Team

FULL = "full"
NEEDS_TOTP = "totp"
NEEDS_ENROLMENT = "enrol"


class StaffSignInFailed(PortalError):
    status_code = 401


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    """First step: user name and password. Locks the account after repeated failures."""
    async with throttle.counting_failures(
        f"staff-signin:{client}",
        rules.client_attempts_per_window,
        timedelta(minutes=rules.client_window_minutes),
        timezone,
    ):
        account = (
            await StaffAccount.objects()
            .where(StaffAccount.username == username.strip().lower()[:64])
            .first()
        )
        now = _now()
        _refuse_locked(account, now, timezone)
        valid = await verify_password_async(account.password_hash if account else "", password)
        if account is None or not valid or account.disabled:
            if account is not None:
                await _count_failure(
                    account, rules.max_failed_logins, rules.lockout_minutes, timezone
                )
            raise StaffSignInFailed("The user name or the password is not correct.")
        return account


def _refuse_locked(account: StaffAccount | None, now: datetime, timezone: str) -> None:
    if account is not None and account.locked_until is not None and account.locked_until > now:
        raise TooManyAttempts(
            "Too many failed attempts. This account is locked until %(time)s.",
            time=clock_time(account.locked_until, timezone),
        )


async def _count_failure(
    account: StaffAccount, limit: int, lockout_minutes: int, timezone: str
) -> None:
    failed = account.failed_attempts + 1
    locked_until = None
    if failed >= limit:
        locked_until = _now() + timedelta(minutes=lockout_minutes)
        failed = 0
    await StaffAccount.update(
        {StaffAccount.failed_attempts: failed, StaffAccount.locked_until: locked_until}
    ).where(StaffAccount.id == account.id)
    if locked_until is not None:
        raise TooManyAttempts(
            "Too many failed attempts. This account is locked until %(time)s.",
            time=clock_time(locked_until, timezone),
        )


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
    """Check a TOTP or recovery code; returns ``totp`` or ``recovery``. Throttled twice:
    per client address and per account (lockout)."""
    async with throttle.counting_failures(
        f"staff-code:{client}",
        security.client_attempts_per_window,
        timedelta(minutes=security.client_window_minutes),
        timezone,
    ):
        fresh = await StaffAccount.objects().where(StaffAccount.id == account.id).first()
        if fresh is None or fresh.disabled:
            raise StaffSignInFailed("The code is not correct.")
        _refuse_locked(fresh, _now(), timezone)
        code = code.strip()[:32]
        if await _check_totp(fresh, code, keyring, tenant, staff.totp_valid_window):
            method = "totp"
        elif len(code) > 8 and await _use_recovery_code(fresh, code):
            method = "recovery"
        else:
            await _count_failure(fresh, staff.max_failed_codes, security.lockout_minutes, timezone)
            raise StaffSignInFailed("The code is not correct or was already used.")
        await StaffAccount.update(
            {
                StaffAccount.failed_attempts: 0,
                StaffAccount.locked_until: None,
                StaffAccount.last_sign_in_at: _now(),
            }
        ).where(StaffAccount.id == fresh.id)
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
    async with throttle.counting_failures(
        f"staff-code:{client}",
        security.client_attempts_per_window,
        timedelta(minutes=security.client_window_minutes),
        timezone,
    ):
        fresh = await StaffAccount.objects().where(StaffAccount.id == account.id).first()
        if fresh is None or fresh.totp_enrolled_at is not None:
            raise BadRequest("Two-factor sign-in is already set up.")
        if not await _check_totp(fresh, code, keyring, tenant, staff.totp_valid_window):
            await _count_failure(fresh, staff.max_failed_codes, security.lockout_minutes, timezone)
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
            StaffAccount.failed_attempts: 0,
            StaffAccount.locked_until: None,
        }
    ).where(StaffAccount.id == account.id)
    await RecoveryCode.delete().where(RecoveryCode.staff == account.id)
    await StaffSession.delete().where(StaffSession.staff == account.id)
    return account


async def start_session(staff_id: int, stage: str, method: str, rules: StaffSettings) -> str:
    token = secrets.token_urlsafe(32)
    now = _now()
    # A partial session lives only long enough to type a code.
    lifetime = (
        timedelta(hours=rules.session_absolute_hours) if stage == FULL else timedelta(minutes=10)
    )
    await StaffSession(
        token_hash=_hash(token),
        staff=staff_id,
        stage=stage,
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    ).save()
    return token


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
    if not token or len(token) > 128:
        return None
    digest = _hash(token)
    row = await StaffSession.objects().where(StaffSession.token_hash == digest).first()
    if row is None:
        return None
    now = _now()
    if row.expires_at <= now or now - row.last_seen_at > timedelta(
        minutes=rules.session_idle_minutes
    ):
        await StaffSession.delete().where(StaffSession.id == row.id)
        return None
    account = await StaffAccount.objects().where(StaffAccount.id == row.staff).first()
    if account is None or account.disabled:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        await StaffSession.update({StaffSession.last_seen_at: now}).where(StaffSession.id == row.id)
    return StaffContext(account=account, token_hash=digest, stage=row.stage, method=row.method)


async def end_session(token_hash: str) -> None:
    await StaffSession.delete().where(StaffSession.token_hash == token_hash)


async def colleagues(team_id: int | None) -> list[StaffAccount]:
    if team_id is None:
        return []
    rows: list[StaffAccount] = (
        await StaffAccount.objects()
        .where((StaffAccount.team == team_id) & (StaffAccount.disabled == False))  # noqa: E712
        .order_by(StaffAccount.display_name)
    )
    return rows
