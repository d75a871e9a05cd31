"""Activation, sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from dokportal.accounts import services
from dokportal.accounts.services import ActivationFailed
from dokportal.audit import Actor, record
from dokportal.lib.errors import PortalError
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, queue_cookie, render, session_cookie_name

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _client(request: AnyRequest) -> str:
    return request.client.host if request.client else "unknown"


def _field(data: dict[str, str], name: str, limit: int = 256) -> str:
    value = data.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _start_session_cookie(request: AnyRequest, token: str) -> None:
    settings = runtime_of(request).settings
    queue_cookie(
        request,
        Cookie(
            key=session_cookie_name(settings.secure_cookies),
            value=token,
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        ),
    )


class AccountController(Controller):
    """Pages reachable without a session."""

    @get("/signin", name="signin")
    async def signin_form(self, request: AnyRequest) -> Template:
        return render(
            request,
            "accounts/signin.html",
            form={},
            signed_out=request.query_params.get("signed_out") == "1",
        )

    @post("/signin", status_code=303)
    async def signin(self, request: AnyRequest, data: Form) -> Template | Redirect:
        settings = runtime_of(request).settings
        number = _field(data, "customer_number", 32)
        try:
            customer = await services.sign_in(
                customer_number=number,
                password=_field(data, "password"),
                client=_client(request),
                rules=settings.security,
                timezone=settings.tenant.timezone,
            )
        except PortalError as error:
            return render(
                request,
                "accounts/signin.html",
                status=error.status_code,
                error=error,
                form={"customer_number": number},
            )
        old = page_state(request).session
        if old is not None:
            await services.end_session(old.token_hash)
        _start_session_cookie(request, await services.start_session(customer.id, settings.security))
        return Redirect(path="/", status_code=303)

    @get("/activate", name="activate")
    async def activate_form(self, request: AnyRequest) -> Template:
        settings = runtime_of(request).settings
        # A one-time link from an access-request mail arrives with both fields filled in.
        query = request.query_params
        return render(
            request,
            "accounts/activate.html",
            form={
                "customer_number": query.get("customer_number", "")[:32],
                "code": query.get("code", "")[:64],
            },
            min_length=settings.security.password_min_length,
        )

    @post("/activate", status_code=303)
    async def activate(self, request: AnyRequest, data: Form) -> Template | Redirect:
        settings = runtime_of(request).settings
        number = _field(data, "customer_number", 32)
        code = _field(data, "code", 64)
        try:
            customer = await services.activate(
                customer_number=number,
                code=code,
                password=_field(data, "password"),
                repeat=_field(data, "password_repeat"),
                client=_client(request),
                rules=settings.security,
                timezone=settings.tenant.timezone,
            )
        except PortalError as error:
            problems = error.problems if isinstance(error, ActivationFailed) else []
            return render(
                request,
                "accounts/activate.html",
                status=error.status_code,
                error=error,
                problems=problems,
                form={"customer_number": number, "code": code},
                min_length=settings.security.password_min_length,
            )
        _start_session_cookie(request, await services.start_session(customer.id, settings.security))
        await record(
            Actor(kind="customer", id=customer.customer_number, source_ip=_client(request)),
            "customer.activated",
            "customer",
            customer.customer_number,
        )
        return Redirect(path="/?welcome=1", status_code=303)

    @post("/signout", status_code=303)
    async def signout(self, request: AnyRequest, data: Form) -> Redirect:
        session = page_state(request).session
        if session is not None:
            if data.get("everywhere") == "1":
                await services.end_all_sessions(session.customer.id)
            else:
                await services.end_session(session.token_hash)
        settings = runtime_of(request).settings
        queue_cookie(
            request,
            Cookie(
                key=session_cookie_name(settings.secure_cookies),
                value="",
                max_age=0,
                path="/",
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
            ),
        )
        return Redirect(path="/signin?signed_out=1", status_code=303)
