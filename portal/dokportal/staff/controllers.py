"""Staff sign-in: password, then TOTP (or a recovery code); first-time TOTP enrolment."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from dokportal.audit import Actor, record
from dokportal.lib.errors import NotFound, PortalError
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import queue_cookie
from dokportal.staff import oidc, services
from dokportal.staff.guards import actor_of, client_ip, set_staff_cookie, staff_session
from dokportal.staff.pages import staff_page
from dokportal.staff.services import FULL, NEEDS_ENROLMENT, NEEDS_TOTP

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def field(data: dict[str, str], name: str, limit: int = 256) -> str:
    value = data.get(name, "")
    return value[:limit].strip() if isinstance(value, str) else ""


def _safe_next(target: str) -> str:
    """Only our own staff pages: never an open redirect."""
    if (
        target.startswith("/staff")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and " " not in target
    ):
        return target
    return "/staff"


async def _finish(request: AnyRequest, ctx: services.StaffContext, method: str) -> None:
    """Replace the partial session by a full one under a new token (session renewal)."""
    settings = runtime_of(request).settings
    await services.end_session(ctx.token_hash)
    token = await services.start_session(ctx.id, FULL, ctx.method, settings.staff)
    set_staff_cookie(request, token)
    await record(actor_of(request, ctx), f"staff.signin.{method}", "staff", ctx.account.username)


class StaffAuthController(Controller):
    """Pages before a full staff session exists."""

    path = "/staff"

    @get("/signin", name="staff_signin")
    async def signin_form(self, request: AnyRequest) -> Template:
        oidc = runtime_of(request).settings.oidc
        return staff_page(
            request,
            None,
            "staff/signin.html",
            form={},
            next=_safe_next(request.query_params.get("next", "")),
            oidc_label=oidc.label if oidc.enabled else "",
        )

    @post("/signin", status_code=303)
    async def signin(self, request: AnyRequest, data: Form) -> Template | Redirect:
        settings = runtime_of(request).settings
        username = field(data, "username", 64)
        try:
            account = await services.sign_in_password(
                username=username,
                password=data.get("password", "")[:256],
                client=client_ip(request),
                rules=settings.security,
                timezone=settings.tenant.timezone,
            )
        except PortalError as error:
            await record(
                Actor(kind="anonymous", id=username[:64], source_ip=client_ip(request)),
                "staff.signin.failed",
                "staff",
                username[:64],
            )
            return staff_page(
                request,
                None,
                "staff/signin.html",
                status=error.status_code,
                error=error,
                form={"username": username},
                next=_safe_next(field(data, "next")),
                oidc_label=settings.oidc.label if settings.oidc.enabled else "",
            )
        stage = services.next_stage(account)
        old = await staff_session(request)
        if old is not None:
            await services.end_session(old.token_hash)
        set_staff_cookie(
            request, await services.start_session(account.id, stage, "local", settings.staff)
        )
        if stage != NEEDS_TOTP:
            return Redirect(path="/staff/enrol", status_code=303)
        after = _safe_next(field(data, "next"))
        query = f"?{urlencode({'next': after})}" if after != "/staff" else ""
        return Redirect(path=f"/staff/signin/code{query}", status_code=303)

    @get("/signin/code", name="staff_code")
    async def code_form(self, request: AnyRequest) -> Template | Redirect:
        ctx = await staff_session(request)
        if ctx is None or ctx.stage != NEEDS_TOTP:
            return Redirect(path="/staff/signin", status_code=303)
        return staff_page(
            request,
            None,
            "staff/code.html",
            name=ctx.account.display_name,
            next=_safe_next(request.query_params.get("next", "")),
        )

    @post("/signin/code", status_code=303)
    async def code(self, request: AnyRequest, data: Form) -> Template | Redirect:
        runtime = runtime_of(request)
        settings = runtime.settings
        ctx = await staff_session(request)
        if ctx is None or ctx.stage != NEEDS_TOTP:
            return Redirect(path="/staff/signin", status_code=303)
        try:
            method = await services.second_factor(
                account=ctx.account,
                code=field(data, "code", 32),
                client=client_ip(request),
                keyring=runtime.keyring,
                tenant=settings.tenant.slug,
                security=settings.security,
                staff=settings.staff,
                timezone=settings.tenant.timezone,
            )
        except PortalError as error:
            await record(actor_of(request, ctx), "staff.code.failed", "staff", ctx.account.username)
            return staff_page(
                request,
                None,
                "staff/code.html",
                status=error.status_code,
                error=error,
                name=ctx.account.display_name,
                next=_safe_next(field(data, "next")),
            )
        await _finish(request, ctx, method)
        return Redirect(path=_safe_next(field(data, "next")), status_code=303)

    @get("/enrol", name="staff_enrol")
    async def enrol_form(self, request: AnyRequest) -> Template | Redirect:
        runtime = runtime_of(request)
        ctx = await staff_session(request)
        if ctx is None or ctx.stage != NEEDS_ENROLMENT:
            return Redirect(path="/staff/signin", status_code=303)
        enrolment = await services.enrolment(
            ctx.account, runtime.keyring, runtime.settings.tenant.slug, runtime.settings.tenant.name
        )
        return staff_page(request, None, "staff/enrol.html", enrolment=enrolment)

    @post("/enrol", status_code=200)
    async def enrol(self, request: AnyRequest, data: Form) -> Template | Redirect:
        runtime = runtime_of(request)
        settings = runtime.settings
        ctx = await staff_session(request)
        if ctx is None or ctx.stage != NEEDS_ENROLMENT:
            return Redirect(path="/staff/signin", status_code=303)
        try:
            recovery = await services.confirm_enrolment(
                account=ctx.account,
                code=field(data, "code", 32),
                client=client_ip(request),
                keyring=runtime.keyring,
                tenant=settings.tenant.slug,
                security=settings.security,
                staff=settings.staff,
                timezone=settings.tenant.timezone,
            )
        except PortalError as error:
            enrolment = await services.enrolment(
                ctx.account, runtime.keyring, settings.tenant.slug, settings.tenant.name
            )
            return staff_page(
                request,
                None,
                "staff/enrol.html",
                status=error.status_code,
                error=error,
                enrolment=enrolment,
            )
        await record(actor_of(request, ctx), "staff.totp.enrolled", "staff", ctx.account.username)
        await _finish(request, ctx, "totp")
        # Shown once, on this response only: the codes are stored as hashes.
        return staff_page(request, None, "staff/recovery.html", codes=recovery)

    @post("/signout", status_code=303)
    async def signout(self, request: AnyRequest, data: Form) -> Redirect:
        ctx = await staff_session(request)
        if ctx is not None:
            await services.end_session(ctx.token_hash)
            await record(actor_of(request, ctx), "staff.signout", "staff", ctx.account.username)
        set_staff_cookie(request, "")
        return Redirect(path="/staff/signin?signed_out=1", status_code=303)


OIDC_COOKIE = "staff_oidc"


class OidcController(Controller):
    """Sign-in through the identity provider; both routes 404 while OIDC is off."""

    path = "/staff/oidc"

    @get("/start", name="staff_oidc_start")
    async def start(self, request: AnyRequest) -> Redirect:
        settings = runtime_of(request).settings
        if not settings.oidc.enabled:
            raise NotFound("This page was not found.")
        async with httpx.AsyncClient(timeout=10) as client:
            begun = await oidc.start(settings.oidc, _callback_url(request), client)
        queue_cookie(
            request,
            Cookie(
                key=OIDC_COOKIE,
                value=begun.state,
                path="/staff/oidc",
                secure=settings.secure_cookies,
                httponly=True,
                # Lax: it must come back with the provider's top-level redirect.
                samesite="lax",
                max_age=600,
            ),
        )
        return Redirect(path=begun.url, status_code=303)

    @get("/callback", name="staff_oidc_callback")
    async def callback(self, request: AnyRequest) -> Redirect | Template:
        settings = runtime_of(request).settings
        if not settings.oidc.enabled:
            raise NotFound("This page was not found.")
        query = request.query_params
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                identity = await oidc.finish(
                    settings.oidc,
                    code=query.get("code", "")[:2048],
                    state=query.get("state", "")[:256],
                    browser_state=request.cookies.get(OIDC_COOKIE),
                    redirect_uri=_callback_url(request),
                    client=client,
                )
            account = await oidc.account_for(identity)
        except PortalError as error:
            await record(
                Actor(kind="anonymous", source_ip=client_ip(request)), "staff.signin.oidc_failed"
            )
            return staff_page(
                request,
                None,
                "staff/signin.html",
                status=error.status_code,
                error=error,
                form={},
                next="/staff",
                oidc_label=settings.oidc.label,
            )
        old = await staff_session(request)
        if old is not None:
            await services.end_session(old.token_hash)
        set_staff_cookie(
            request, await services.start_session(account.id, FULL, "oidc", settings.staff)
        )
        await record(
            Actor(
                kind="staff", id=account.username, role=account.role, source_ip=client_ip(request)
            ),
            "staff.signin.oidc",
            "staff",
            account.username,
        )
        return Redirect(path="/staff", status_code=303)


def _callback_url(request: AnyRequest) -> str:
    return f"{runtime_of(request).settings.public_base_url}/staff/oidc/callback"
