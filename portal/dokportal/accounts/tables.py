"""Accounts: customers, activation codes, sessions and access requests."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    Date,
    ForeignKey,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.staff.tables import Team


class Customer(Table, tablename="customer"):
    """A jobcenter customer. No password until activated with a one-time code."""

    id = Serial(primary_key=True)

    customer_number = Varchar(length=32, unique=True, index=True)
    display_name = Varchar(length=200)
    preferred_language = Varchar(length=8, default="de")
    # argon2id hash; empty until activation.
    password_hash = Varchar(length=255, default="")
    activated_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    # Staff side (issue 4): the team in charge, contact for notifications, identity check
    # for online access requests, a lock set by staff, and consent to electronic delivery
    # of notices (separate from using uploads; revocable; null = no consent).
    team = ForeignKey(
        references=Team, null=True, default=None, index=True, on_delete=OnDelete.set_null
    )
    email = Varchar(length=254, default="")
    date_of_birth = Date(null=True, default=None)
    disabled_at = Timestamptz(null=True, default=None)
    e_delivery_consent_at = Timestamptz(null=True, default=None)


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


class AccessRequest(Table, tablename="access_request"):
    """An online request for access whose data matched a customer: a letter to send."""

    id = Serial(primary_key=True)

    customer = ForeignKey(references=Customer, index=True)
    # letter (queued for the team) or mail (a one-time link went to the address on record)
    channel = Varchar(length=8, default="letter")
    created_at = Timestamptz(default=TimestamptzNow())
    handled_at = Timestamptz(null=True, default=None)
