"""Admins create and revoke API tokens; a new token is shown once, on that response only."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from dokportal.api import services
from dokportal.audit import record
from dokportal.lib.errors import PortalError
from dokportal.lib.formatting import local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state
from dokportal.staff.guards import CurrentStaff, actor_of, provide_admin
from dokportal.staff.pages import staff_page
from dokportal.staff.services import StaffContext

AnyRequest = Request[Any, Any, Any]
# Checkbox lists: the same field may come more than once.
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


class TokenAdminController(Controller):
    path = "/staff/admin/tokens"
    dependencies = {"staff": Provide(provide_admin)}

    async def _page(
        self,
        request: AnyRequest,
        staff: StaffContext,
        *,
        status: int = 200,
        error: PortalError | None = None,
        new_token: str = "",
    ) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        return staff_page(
            request,
            staff,
            "staff/tokens.html",
            status=status,
            error=error,
            tokens=await services.all_tokens(),
            new_token=new_token,
            when=lambda moment: (
                local_time(moment, lang, settings.tenant.timezone) if moment else "-"
            ),
        )

    @get("/", name="staff_tokens")
    async def index(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        return await self._page(request, staff)

    @post("/", status_code=200)
    async def create(self, request: AnyRequest, staff: CurrentStaff, data: Form) -> Template:
        raw = data.get("scope", [])
        scopes = [raw] if isinstance(raw, str) else [str(item) for item in raw]
        try:
            token, row = await services.create_token(
                str(data.get("name", ""))[:200], scopes, staff.id
            )
        except PortalError as error:
            return await self._page(request, staff, status=error.status_code, error=error)
        await record(actor_of(request, staff), "api.token_created", "api_token", row.id)
        return await self._page(request, staff, new_token=token)

    @post("/{token_id:int}/revoke", status_code=303)
    async def revoke(
        self, request: AnyRequest, staff: CurrentStaff, token_id: FromPath[int], data: Form
    ) -> Redirect:
        row = await services.revoke(token_id)
        await record(actor_of(request, staff), "api.token_revoked", "api_token", row.id)
        return Redirect(path="/staff/admin/tokens", status_code=303)
