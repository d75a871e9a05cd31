"""Accounts: customers, staff, activation codes, sessions and guessing throttles."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Customer(Table, tablename="customer"):
    """A jobcenter customer. No password until activated with a one-time code."""

    id = Serial(primary_key=True)

    customer_number = Varchar(length=32, unique=True, index=True)
    display_name = Varchar(length=200)
    preferred_language = Varchar(length=8, default="de")
    # argon2id hash; empty until activation.
    password_hash = Varchar(length=255, default="")
    activated_at = Timestamptz(null=True, default=None)
    failed_logins = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffUser(Table, tablename="staff_user"):
    """A caseworker, team lead or admin of the office."""

    id = Serial(primary_key=True)

    username = Varchar(length=64, unique=True, index=True)
    display_name = Varchar(length=200)
    role = Varchar(length=16, default="caseworker")
    password_hash = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class ActivationCode(Table, tablename="activation_code"):
    """A one-time code handed out at the first meeting or by letter; stored as a hash."""

    id = Serial(primary_key=True)

    customer = ForeignKey(references=Customer, index=True)
    code_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class Session(Table, tablename="customer_session"):
    """A signed-in browser. Only the SHA-256 of the cookie value is stored."""

    id = Serial(primary_key=True)

    token_hash = Varchar(length=64, unique=True, index=True)
    customer = ForeignKey(references=Customer, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()


class Throttle(Table, tablename="throttle"):
    """Attempts per key (client address or account) in a fixed window, shared by replicas."""

    id = Serial(primary_key=True)

    key = Varchar(length=128, unique=True, index=True)
    window_start = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)
