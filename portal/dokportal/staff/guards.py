"""Who may see a staff page: a fully signed-in staff member, of the right role.

Staff and customers have separate cookies and separate session tables, so a customer's
session can never open a staff page, and a staff session never opens a customer page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Redirect

from dokportal.audit import Actor
from dokportal.lib.errors import Forbidden
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import queue_cookie, staff_cookie_name
from dokportal.staff import services
from dokportal.staff.services import FULL, StaffContext

AnyRequest = Request[Any, Any, Any]
LEADS = frozenset({"team_lead", "admin"})


class StaffSignInRequired(Exception):
    """No (full) staff session: mapped to a redirect to the staff sign-in page."""


def redirect_to_staff_signin(request: AnyRequest, _: StaffSignInRequired) -> Response[Any]:
    return Redirect(path=f"/staff/signin?next={quote(request.url.path)}", status_code=303)


async def staff_session(request: AnyRequest) -> StaffContext | None:
    """The staff session of this request (any stage), resolved once per request."""
    cached = request.state.get("staff_ctx", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    runtime = runtime_of(request)
    token = request.cookies.get(staff_cookie_name(runtime.settings.secure_cookies))
    ctx = await services.resume_session(token, runtime.settings.staff)
    request.state.staff_ctx = ctx
    return ctx


async def provide_staff(request: AnyRequest) -> StaffContext:
    ctx = await staff_session(request)
    if ctx is None or ctx.stage != FULL:
        raise StaffSignInRequired()
    return ctx


async def provide_lead(request: AnyRequest) -> StaffContext:
    ctx = await provide_staff(request)
    if ctx.role not in LEADS:
        raise Forbidden("This page is for team leads and administrators.")
    return ctx


async def provide_admin(request: AnyRequest) -> StaffContext:
    ctx = await provide_staff(request)
    if ctx.role != "admin":
        raise Forbidden("This page is for administrators.")
    return ctx


def client_ip(request: AnyRequest) -> str:
    return request.client.host if request.client else ""


def actor_of(request: AnyRequest, ctx: StaffContext) -> Actor:
    return Actor(kind="staff", id=ctx.account.username, role=ctx.role, source_ip=client_ip(request))


def set_staff_cookie(request: AnyRequest, token: str) -> None:
    settings = runtime_of(request).settings
    queue_cookie(
        request,
        Cookie(
            key=staff_cookie_name(settings.secure_cookies),
            value=token,
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            # Lax, not Strict: the OIDC callback arrives as a cross-site navigation and
            # redirects on; unsafe cross-site requests still carry no cookie (and no token).
            samesite="lax",
            max_age=0 if not token else None,
        ),
    )


# Handler parameter type for the signed-in staff member (injected by name).
CurrentStaff = NamedDependency[StaffContext]
