"""Token authentication for ``/api/v1``.

API routes carry the opt ``TOKEN_AUTH``; ``prepare_request`` skips its cookie-based CSRF check
for exactly those routes, and this guard is their only way in: a bearer token in the
``Authorization`` header, which a browser never attaches by itself to a cross-site request.
Cookies are ignored here, so a staff or customer session opens nothing under ``/api``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from dokportal.api import services
from dokportal.api.tables import ApiToken
from dokportal.audit import Actor
from dokportal.lib.errors import Forbidden, PortalError

SCOPE_OPT = "api_scope"


class ApiUnauthorized(PortalError):
    status_code = 401


async def token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    header = connection.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    row = None
    if scheme.lower() == "bearer" and secret:
        row = await services.authenticate(secret.strip())
    if row is None:
        raise ApiUnauthorized("A valid API token is required.")
    needed = handler.opt.get(SCOPE_OPT, "read")
    if needed not in row.scopes.split():
        raise Forbidden("This API token lacks the scope %(scope)s.", scope=needed)
    connection.state.api_token = row


def token_of(request: Request[Any, Any, Any]) -> ApiToken:
    row: ApiToken = request.state.api_token
    return row


def api_actor(request: Request[Any, Any, Any]) -> Actor:
    row = token_of(request)
    return Actor(
        kind="api",
        id=f"token:{row.id}",
        role="integration",
        source_ip=request.client.host if request.client else "",
    )
