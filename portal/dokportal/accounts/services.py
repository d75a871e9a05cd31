"""Activation, sign-in, lockout and sessions for customers. No HTTP types here."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from piccolo.columns import Column

from dokportal.accounts import codes, throttle
from dokportal.accounts.passwords import (
    hash_password_async,
    needs_rehash,
    password_problems,
    verify_password_async,
)
from dokportal.accounts.tables import ActivationCode, Customer, Session
from dokportal.lib.errors import BadRequest, PortalError, TooManyAttempts
from dokportal.lib.formatting import clock_time
from dokportal.settings import SecuritySettings


class ActivationFailed(BadRequest):
    """Wrong, used or expired code, or a password that breaks the rules."""

    def __init__(self, message: str, problems: list[str] | None = None, **params: object) -> None:
        super().__init__(message, **params)
        self.problems = problems or []


class SignInFailed(PortalError):
    status_code = 401


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_activation_code(customer_id: int, valid_days: int) -> str:
    """A new one-time code for a customer; earlier unused codes stop working."""
    await ActivationCode.update({ActivationCode.revoked: True}).where(
        (ActivationCode.customer == customer_id) & ActivationCode.used_at.is_null()
    )
    code = codes.new_code()
    await ActivationCode.insert(
        ActivationCode(
            customer=customer_id,
            code_hash=codes.code_hash(code),
            expires_at=_now() + timedelta(days=valid_days),
        )
    )
    return code


async def activate(
    *,
    customer_number: str,
    code: str,
    password: str,
    repeat: str,
    client: str,
    rules: SecuritySettings,
    timezone: str = "UTC",
) -> Customer:
    """Check the code, set the password, burn the code. Throttled per client address."""
    key = f"activate:{client}"
    window = timedelta(minutes=rules.client_window_minutes)
    await throttle.ensure_allowed(key, rules.client_attempts_per_window, window, timezone)
    try:
        return await _activate(customer_number, code, password, repeat, rules)
    except ActivationFailed as error:
        if not error.problems:  # a rejected password is no guess; a wrong code is
            await throttle.record_failure(key, window)
        raise


async def _activate(
    customer_number: str, code: str, password: str, repeat: str, rules: SecuritySettings
) -> Customer:
    customer_number = customer_number.strip()
    customer = await Customer.objects().where(Customer.customer_number == customer_number).first()
    row = None
    if customer is not None and code.strip():
        row = (
            await ActivationCode.objects()
            .where(
                (ActivationCode.customer == customer.id)
                & (ActivationCode.code_hash == codes.code_hash(code))
            )
            .first()
        )
    if customer is None or row is None:
        raise ActivationFailed(
            "The customer number or the activation code is not correct. Please check the letter."
        )
    if row.used_at is not None or row.revoked:
        raise ActivationFailed(
            "This activation code has already been used or replaced. "
            "Please sign in, or ask your jobcenter for a new code."
        )
    if customer.disabled_at is not None:
        raise ActivationFailed("This access is locked. Please contact your jobcenter.")
    if row.expires_at < _now():
        raise ActivationFailed(
            "This activation code has expired. Please ask your jobcenter for a new code."
        )
    problems = password_problems(password, repeat, rules.password_min_length, customer_number)
    if problems:
        raise ActivationFailed(
            "Please choose another password.", problems=problems, min=rules.password_min_length
        )
    new_hash = await hash_password_async(password)  # before the transaction: no lock held
    now = _now()
    async with Customer._meta.db.transaction():
        # Burn the code only if still unused, so two parallel activations cannot both win.
        burned = (
            await ActivationCode.update({ActivationCode.used_at: now})
            .where((ActivationCode.id == row.id) & ActivationCode.used_at.is_null())
            .returning(ActivationCode.id)
        )
        if not burned:
            raise ActivationFailed("This activation code has already been used or replaced.")
        await Customer.update(
            {
                Customer.password_hash: new_hash,
                Customer.activated_at: now,
                Customer.failed_logins: 0,
                Customer.locked_until: None,
            }
        ).where(Customer.id == customer.id)
    customer.activated_at = now
    return customer


async def sign_in(
    *,
    customer_number: str,
    password: str,
    client: str,
    rules: SecuritySettings,
    timezone: str = "UTC",
) -> Customer:
    """Verify credentials; lock the account after repeated failures."""
    key = f"signin:{client}"
    window = timedelta(minutes=rules.client_window_minutes)
    await throttle.ensure_allowed(key, rules.client_attempts_per_window, window, timezone)
    try:
        return await _sign_in(customer_number, password, rules, timezone)
    except (SignInFailed, TooManyAttempts):
        await throttle.record_failure(key, window)
        raise


async def _sign_in(
    customer_number: str, password: str, rules: SecuritySettings, timezone: str
) -> Customer:
    customer = (
        await Customer.objects().where(Customer.customer_number == customer_number.strip()).first()
    )
    now = _now()
    if customer is not None and customer.locked_until is not None and customer.locked_until > now:
        raise TooManyAttempts(
            "Too many failed sign-ins. Your account is locked until %(time)s. "
            "Please try again then.",
            time=clock_time(customer.locked_until, timezone),
        )
    valid = await verify_password_async(customer.password_hash if customer else "", password)
    if customer is None or not valid or customer.activated_at is None:
        if customer is not None:
            failed = customer.failed_logins + 1
            locked_until = None
            if failed >= rules.max_failed_logins:
                locked_until = now + timedelta(minutes=rules.lockout_minutes)
                failed = 0
            await Customer.update(
                {Customer.failed_logins: failed, Customer.locked_until: locked_until}
            ).where(Customer.id == customer.id)
            if locked_until is not None:
                raise TooManyAttempts(
                    "Too many failed sign-ins. Your account is locked until %(time)s. "
                    "Please try again then.",
                    time=clock_time(locked_until, timezone),
                )
        raise SignInFailed("The customer number or the password is not correct.")
    if customer.disabled_at is not None:
        raise SignInFailed("This access is locked. Please contact your jobcenter.")
    changes: dict[Column | str, object] = {Customer.failed_logins: 0, Customer.locked_until: None}
    if needs_rehash(customer.password_hash):
        changes[Customer.password_hash] = await hash_password_async(password)
    await Customer.update(changes).where(Customer.id == customer.id)
    return customer


@dataclass(frozen=True)
class ActiveSession:
    customer: Customer
    token_hash: str


async def start_session(customer_id: int, rules: SecuritySettings) -> str:
    """A fresh session token (the cookie value); a new one at every sign-in."""
    token = secrets.token_urlsafe(32)
    now = _now()
    await Session.insert(
        Session(
            token_hash=_token_hash(token),
            customer=customer_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=rules.session_absolute_hours),
        )
    )
    return token


async def resume_session(token: str | None, rules: SecuritySettings) -> ActiveSession | None:
    """The session for a cookie value, if it has neither idled out nor reached its end."""
    if not token or len(token) > 128:
        return None
    digest = _token_hash(token)
    row = await Session.objects().where(Session.token_hash == digest).first()
    if row is None:
        return None
    now = _now()
    idle_limit = timedelta(minutes=rules.session_idle_minutes)
    if row.expires_at <= now or now - row.last_seen_at > idle_limit:
        await Session.delete().where(Session.id == row.id)
        return None
    customer = await Customer.objects().where(Customer.id == row.customer).first()
    if customer is None or customer.disabled_at is not None:
        return None
    # Touch at most once a minute: keeps the idle timer honest without a write per request.
    if now - row.last_seen_at > timedelta(minutes=1):
        await Session.update({Session.last_seen_at: now}).where(Session.id == row.id)
    return ActiveSession(customer=customer, token_hash=digest)


async def end_session(token_hash: str) -> None:
    await Session.delete().where(Session.token_hash == token_hash)


async def end_all_sessions(customer_id: int) -> None:
    await Session.delete().where(Session.customer == customer_id)
