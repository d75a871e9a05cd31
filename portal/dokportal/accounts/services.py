"""Activation, sign-in, lockout and sessions for customers. No HTTP types here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal.accounts import codes
from dokportal.accounts.passwords import (
    hash_password_async,
    needs_rehash,
    password_problems,
    verify_password_async,
)
from dokportal.accounts.tables import ActivationCode, Customer, Session
from dokportal.lib.errors import BadRequest, PortalError
from dokportal.sessions import limits, policy
from dokportal.sessions.store import SessionStore
from dokportal.settings import SecuritySettings

SESSIONS = SessionStore(Session, owner="customer")


class ActivationFailed(BadRequest):
    """Wrong, used or expired code, or a password that breaks the rules."""

    def __init__(self, message: str, problems: list[str] | None = None, **params: object) -> None:
        super().__init__(message, **params)
        self.problems = problems or []


class SignInFailed(PortalError):
    status_code = 401


def _now() -> datetime:
    return datetime.now(UTC)


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
    async with limits.guarded(
        policy.per_client(rules, "activate", client), timezone=timezone
    ) as attempt:
        try:
            return await _activate(customer_number, code, password, repeat, rules)
        except ActivationFailed as error:
            # A rejected new password is no guess; a wrong code is.
            attempt.not_a_guess = bool(error.problems)
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
    """Verify credentials, counted before the check (see :mod:`dokportal.sessions.limits`).

    Known and unknown customer numbers take the same path: the same counters, a password
    hash checked (a dummy one when there is no account), the same answers.
    """
    number = customer_number.strip()
    counters, pair = policy.sign_in(rules, "customer", number.upper(), client)
    async with limits.guarded(counters, reset_on_success=(pair,), timezone=timezone):
        customer = await Customer.objects().where(Customer.customer_number == number).first()
        stored = customer.password_hash if customer is not None else ""
        valid = await verify_password_async(stored, password)
        if customer is None or not valid or customer.activated_at is None:
            raise SignInFailed("The customer number or the password is not correct.")
        if customer.disabled_at is not None:
            raise SignInFailed("This access is locked. Please contact your jobcenter.")
        if needs_rehash(customer.password_hash):
            await Customer.update(
                {Customer.password_hash: await hash_password_async(password)}
            ).where(Customer.id == customer.id)
        return customer


@dataclass(frozen=True)
class ActiveSession:
    customer: Customer
    token_hash: str


async def start_session(customer_id: int, rules: SecuritySettings) -> str:
    """A fresh session token (the cookie value); a new one at every sign-in."""
    return await SESSIONS.start(customer_id, timedelta(hours=rules.session_absolute_hours))


async def resume_session(token: str | None, rules: SecuritySettings) -> ActiveSession | None:
    """The session for a cookie value, if it has neither idled out nor reached its end."""
    row = await SESSIONS.resume(token, timedelta(minutes=rules.session_idle_minutes))
    if row is None:
        return None
    customer = await Customer.objects().where(Customer.id == row["customer"]).first()
    if customer is None or customer.disabled_at is not None:
        return None
    return ActiveSession(customer=customer, token_hash=row["token_hash"])


async def end_session(token_hash: str) -> None:
    await SESSIONS.end(token_hash)


async def end_all_sessions(customer_id: int) -> None:
    await SESSIONS.end_all(customer_id)
