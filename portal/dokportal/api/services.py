"""API tokens and the export operations. No HTTP types.

A token is ``dkp_`` + 256 random bits, shown once; only its SHA-256 is stored. The export
sees every team's submissions: it is the office's e-file, not a caseworker.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from dokportal.api.tables import ApiToken
from dokportal.documents.tables import Submission
from dokportal.lib.errors import BadRequest, NotFound

SCOPES = ("read", "acknowledge")
PREFIX = "dkp_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    name: str, scopes: list[str], created_by: int | None
) -> tuple[str, ApiToken]:
    name = " ".join(name.split())[:100]
    if not name:
        raise BadRequest("Please name the integration.")
    chosen = [scope for scope in SCOPES if scope in scopes]
    if not chosen or len(chosen) != len(set(scopes)):
        raise BadRequest("Please choose the scopes: read, acknowledge.")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=token_hash(token),
        prefix=token[:12],
        scopes=" ".join(chosen),
        created_by=created_by,
    )
    await row.save()
    return token, row


async def revoke(token_id: int) -> ApiToken:
    row = await ApiToken.objects().where(ApiToken.id == token_id).first()
    if row is None:
        raise NotFound("This page was not found.")
    await ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)}).where(
        (ApiToken.id == token_id) & ApiToken.revoked_at.is_null()
    )
    return row


async def all_tokens() -> list[ApiToken]:
    rows: list[ApiToken] = await ApiToken.objects().order_by(ApiToken.id, ascending=False)
    return rows


async def authenticate(token: str) -> ApiToken | None:
    """The live token for a presented secret, or None (unknown or revoked)."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    row = await ApiToken.objects().where(ApiToken.token_hash == token_hash(token)).first()
    if row is None or row.revoked_at is not None:
        return None
    await ApiToken.update({ApiToken.last_used_at: datetime.now(UTC)}).where(ApiToken.id == row.id)
    return row


@dataclass(frozen=True)
class Page:
    items: list[Submission]
    next_cursor: int


async def submissions_since(cursor: int, limit: int) -> Page:
    """Submissions with an id above ``cursor`` (ids only grow), oldest first."""
    rows: list[Submission] = (
        await Submission.objects()
        .where(Submission.id > max(cursor, 0))
        .order_by(Submission.id)
        .limit(max(1, min(limit, 500)))
    )
    return Page(items=rows, next_cursor=rows[-1].id if rows else cursor)


async def submission(reference: str) -> Submission:
    row = await Submission.objects().where(Submission.reference == reference[:32]).first()
    if row is None:
        raise NotFound("This document was not found.")
    return row


async def acknowledge(row: Submission) -> bool:
    """Mark as transferred (starts the retention clock). True if this call changed it."""
    changed = (
        await Submission.update(
            {
                Submission.status: "transferred",
                Submission.transferred_at: datetime.now(UTC),
                Submission.status_changed_at: datetime.now(UTC),
            }
        )
        .where((Submission.id == row.id) & (Submission.status != "transferred"))
        .returning(Submission.id)
    )
    return bool(changed)
