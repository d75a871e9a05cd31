"""The customer's profile: consent to electronic delivery of notices, and the access request
form for people who have no access yet."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from dokportal.accounts.access import request_access
from dokportal.accounts.guards import CurrentCustomer, provide_customer
from dokportal.audit import Actor, record
from dokportal.lib.errors import PortalError
from dokportal.lib.formatting import local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, render
from dokportal.notices.delivery import set_consent

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _client(request: AnyRequest) -> str:
    return request.client.host if request.client else ""


class ProfileController(Controller):
    path = "/profile"
    dependencies = {"customer": Provide(provide_customer)}

    @get("/", name="profile")
    async def show(self, request: AnyRequest, customer: CurrentCustomer) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        consent = customer.e_delivery_consent_at
        return render(
            request,
            "accounts/profile.html",
            consent_since=local_time(consent, lang, settings.tenant.timezone) if consent else "",
            email=customer.email,
            saved=request.query_params.get("saved") == "1",
        )

    @post("/consent", status_code=303)
    async def consent(self, request: AnyRequest, customer: CurrentCustomer, data: Form) -> Redirect:
        give = data.get("consent") == "1"
        await set_consent(customer, give)
        await record(
            Actor(kind="customer", id=customer.customer_number, source_ip=_client(request)),
            "customer.consent_given" if give else "customer.consent_revoked",
            "customer",
            customer.customer_number,
        )
        return Redirect(path="/profile?saved=1", status_code=303)


class AccessRequestController(Controller):
    path = "/access"

    @get("/", name="access_request")
    async def form(self, request: AnyRequest) -> Template:
        return render(request, "accounts/access.html", done=False)

    @post("/", status_code=200)
    async def submit(self, request: AnyRequest, data: Form) -> Template:
        settings = runtime_of(request).settings
        number = str(data.get("customer_number", ""))[:32]
        try:
            row = await request_access(
                number=number,
                name=str(data.get("name", ""))[:200],
                birth=str(data.get("date_of_birth", ""))[:10],
                client=_client(request),
                settings=settings,
            )
        except PortalError as error:
            return render(
                request, "accounts/access.html", status=error.status_code, error=error, done=False
            )
        await record(
            Actor(kind="anonymous", source_ip=_client(request)),
            "access_request.matched" if row is not None else "access_request.unmatched",
            "customer",
            number.strip().upper() if row is not None else "",
        )
        # The same words either way: nobody learns from this page who is a customer.
        return render(request, "accounts/access.html", done=True)
