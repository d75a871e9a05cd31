"""Staff sign-in through the county's identity provider: authorization code flow + PKCE.

The provider's metadata comes from its discovery document; the ID token is verified with
the provider's published keys (issuer, audience, expiry, nonce). Groups in the ID token
decide role and team on every sign-in, so the identity provider stays the source of truth.
Second factors for these accounts are the identity provider's business.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dokportal.lib.errors import BadRequest, Forbidden, ServiceUnavailable
from dokportal.settings import OidcSettings
from dokportal.staff.services import ensure_team
from dokportal.staff.tables import OidcLogin, StaffAccount

LOGIN_LIFETIME = timedelta(minutes=10)
RANK = {"caseworker": 1, "team_lead": 2, "admin": 3}


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ServiceUnavailable(
            "The sign-in service cannot be reached right now. Please try again later."
        ) from error
    return data


async def discover(settings: OidcSettings, client: httpx.AsyncClient) -> dict[str, Any]:
    url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    meta = await _get_json(client, url)
    if meta.get("issuer") != settings.issuer:
        raise ServiceUnavailable("The sign-in service is misconfigured.")
    return meta


@dataclass(frozen=True)
class Start:
    url: str
    state: str


async def start(settings: OidcSettings, redirect_uri: str, client: httpx.AsyncClient) -> Start:
    meta = await discover(settings, client)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    await OidcLogin.delete().where(OidcLogin.created_at < datetime.now(UTC) - LOGIN_LIFETIME)
    await OidcLogin(state_hash=_sha(state), nonce=nonce, code_verifier=verifier).save()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": settings.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    return Start(url=f"{meta['authorization_endpoint']}?{query}", state=state)


@dataclass(frozen=True)
class Identity:
    subject: str
    username: str
    name: str
    email: str
    role: str
    team: str | None


def map_groups(settings: OidcSettings, groups: list[str]) -> tuple[str, str | None]:
    """The highest role any of the user's groups grants, with its team."""
    best: tuple[str, str | None] | None = None
    for group in groups:
        target = settings.role_map.get(group)
        if not target:
            continue
        role, _, team = target.partition(":")
        if best is None or RANK[role] > RANK[best[0]]:
            best = (role, team or None)
    if best is None:
        raise Forbidden("Your account has no role in this portal. Please ask your administrator.")
    return best


async def finish(
    settings: OidcSettings,
    *,
    code: str,
    state: str,
    browser_state: str | None,
    redirect_uri: str,
    client: httpx.AsyncClient,
) -> Identity:
    """Check state (bound to this browser), redeem the code, verify the ID token."""
    if not code or not state or browser_state != state:
        raise BadRequest("The sign-in could not be completed. Please start again.")
    login = await OidcLogin.objects().where(OidcLogin.state_hash == _sha(state)).first()
    if login is None:
        raise BadRequest("The sign-in could not be completed. Please start again.")
    await OidcLogin.delete().where(OidcLogin.id == login.id)  # single use
    if datetime.now(UTC) - login.created_at > LOGIN_LIFETIME:
        raise BadRequest("The sign-in took too long. Please start again.")
    meta = await discover(settings, client)
    try:
        response = await client.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": login.code_verifier,
            },
            auth=(settings.client_id, settings.client_secret.get_secret_value()),
        )
    except httpx.HTTPError as error:
        raise ServiceUnavailable(
            "The sign-in service cannot be reached right now. Please try again later."
        ) from error
    if response.status_code != 200:
        raise BadRequest("The sign-in could not be completed. Please start again.")
    id_token = str(response.json().get("id_token", ""))
    keys = KeySet.import_key_set(await _get_json(client, meta["jwks_uri"]))  # type: ignore[arg-type]
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"])
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.client_id},
            nonce={"essential": True, "value": login.nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as error:
        raise BadRequest("The sign-in could not be completed. Please start again.") from error
    claims = token.claims
    raw_groups = claims.get(settings.group_claim, [])
    groups = [str(g) for g in raw_groups] if isinstance(raw_groups, list) else []
    role, team = map_groups(settings, groups)
    subject = str(claims["sub"])
    return Identity(
        subject=f"{settings.issuer}|{subject}"[:255],
        username=str(claims.get("preferred_username") or subject)[:56].lower(),
        name=str(claims.get("name") or subject)[:200],
        email=str(claims.get("email") or "")[:254],
        role=role,
        team=team,
    )


async def account_for(identity: Identity) -> StaffAccount:
    """Find the linked account or create it; role and team follow the groups each time."""
    team = await ensure_team(identity.team) if identity.team else None
    account = (
        await StaffAccount.objects().where(StaffAccount.oidc_subject == identity.subject).first()
    )
    if account is None:
        username = identity.username
        if await StaffAccount.exists().where(StaffAccount.username == username):
            username = f"sso-{secrets.token_hex(3)}-{username}"[:64]
        account = StaffAccount(
            username=username,
            display_name=identity.name,
            email=identity.email,
            role=identity.role,
            team=team.id if team else None,
            oidc_subject=identity.subject,
        )
        await account.save()
        return account
    if account.disabled:
        raise Forbidden("This account is disabled.")
    await StaffAccount.update(
        {
            StaffAccount.role: identity.role,
            StaffAccount.team: team.id if team else None,
            StaffAccount.display_name: identity.name,
            StaffAccount.last_sign_in_at: datetime.now(UTC),
        }
    ).where(StaffAccount.id == account.id)
    account.role = identity.role
    account.team = team.id if team else None
    return account
