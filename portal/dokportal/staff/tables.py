"""Teams, staff accounts, their sessions, recovery codes and pending OIDC logins."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Team(Table, tablename="team"):
    """A group of caseworkers sharing customers and an inbox."""

    id = Serial(primary_key=True)

    slug = Varchar(length=64, unique=True, index=True)
    name = Varchar(length=200)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffAccount(Table, tablename="staff_account"):
    """A caseworker, team lead or admin. Local accounts need a password and TOTP."""

    id = Serial(primary_key=True)

    username = Varchar(length=64, unique=True, index=True)
    display_name = Varchar(length=200)
    email = Varchar(length=254, default="")
    # caseworker | team_lead | admin
    role = Varchar(length=16, default="caseworker")
    team = ForeignKey(
        references=Team, null=True, default=None, index=True, on_delete=OnDelete.set_null
    )
    # argon2id; empty for accounts that only sign in through OIDC.
    password_hash = Varchar(length=255, default="")
    # The TOTP secret wrapped with the tenant key (never stored in the clear).
    totp_key_id = Varchar(length=64, default="")
    totp_wrapped = Varchar(length=255, default="")
    totp_enrolled_at = Timestamptz(null=True, default=None)
    # The last accepted 30-second step: a code is never accepted twice (replay).
    totp_last_step = BigInt(default=0)
    disabled = Boolean(default=False)
    # Subject at the identity provider, for accounts created or linked by OIDC.
    oidc_subject = Varchar(length=255, null=True, default=None, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_sign_in_at = Timestamptz(null=True, default=None)


class StaffSession(Table, tablename="staff_session"):
    """A staff browser. ``stage`` is ``totp`` or ``enrol`` until the second factor is done."""

    id = Serial(primary_key=True)

    token_hash = Varchar(length=64, unique=True, index=True)
    staff = ForeignKey(references=StaffAccount, index=True)
    stage = Varchar(length=8, default="totp")
    method = Varchar(length=8, default="local")
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()


class RecoveryCode(Table, tablename="staff_recovery_code"):
    """Single-use codes for a lost phone; only their SHA-256 is stored."""

    id = Serial(primary_key=True)

    staff = ForeignKey(references=StaffAccount, index=True)
    code_hash = Varchar(length=64, unique=True)
    used_at = Timestamptz(null=True, default=None)


class OidcLogin(Table, tablename="staff_oidc_login"):
    """A sign-in that went to the identity provider and has not come back yet."""

    id = Serial(primary_key=True)

    state_hash = Varchar(length=64, unique=True, index=True)
    nonce = Varchar(length=64)
    code_verifier = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())
