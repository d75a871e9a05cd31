"""What the team sent: delivery route, mail state, opened/downloaded, deemed-received date."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from dokportal.accounts.tables import AccessRequest, Customer
from dokportal.audit import record
from dokportal.lib.errors import NotFound
from dokportal.lib.formatting import local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state
from dokportal.mail import services as mail
from dokportal.mail.tables import MailJob
from dokportal.notices import delivery
from dokportal.notices.tables import Notice
from dokportal.staff.guards import CurrentStaff, actor_of, provide_staff
from dokportal.staff.pages import staff_page

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class StaffNoticeController(Controller):
    path = "/staff"
    dependencies = {"staff": Provide(provide_staff)}

    @get("/notices", name="staff_notices")
    async def index(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        rows = await delivery.notices_of_team(staff.team_id, settings.delivery)
        return staff_page(
            request,
            staff,
            "staff/notices.html",
            rows=rows,
            days=settings.delivery.deemed_received_days,
            reminder_days=settings.delivery.reminder_after_days,
            when=lambda moment: (
                local_time(moment, lang, settings.tenant.timezone) if moment else "-"
            ),
        )

    @post("/mail/{job_id:int}/retry", status_code=303)
    async def retry(
        self, request: AnyRequest, staff: CurrentStaff, job_id: FromPath[int], data: Form
    ) -> Redirect:
        job = await MailJob.objects().where(MailJob.id == job_id).first()
        notice = None
        if job is not None and job.object_type == "notice" and job.object_id.isdigit():
            notice = (
                await Notice.objects()
                .where((Notice.id == int(job.object_id)) & (Notice.customer.team == staff.team_id))
                .first()
            )
        if job is None or notice is None or staff.team_id is None:
            raise NotFound("This page was not found.")
        await mail.retry(job.id)
        await record(actor_of(request, staff), "mail.retry", "mail", job.id)
        return Redirect(path="/staff/notices", status_code=303)

    @get("/access-requests", name="staff_access_requests")
    async def access_requests(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        rows = []
        if staff.team_id is not None:
            rows = (
                await AccessRequest.select(
                    AccessRequest.id,
                    AccessRequest.channel,
                    AccessRequest.created_at,
                    AccessRequest.customer.customer_number,
                    AccessRequest.customer.display_name,
                )
                .where(
                    (AccessRequest.customer.team == staff.team_id)
                    & AccessRequest.handled_at.is_null()
                )
                .order_by(AccessRequest.id)
            )
        return staff_page(
            request,
            staff,
            "staff/access_requests.html",
            rows=rows,
            when=lambda moment: local_time(moment, lang, settings.tenant.timezone),
        )

    @post("/access-requests/{request_id:int}/done", status_code=303)
    async def access_done(
        self, request: AnyRequest, staff: CurrentStaff, request_id: FromPath[int], data: Form
    ) -> Redirect:
        from datetime import UTC, datetime

        row = (
            await AccessRequest.objects()
            .where(
                (AccessRequest.id == request_id)
                & (AccessRequest.customer.team == (staff.team_id or -1))
            )
            .first()
        )
        if row is None:
            raise NotFound("This page was not found.")
        await AccessRequest.update({AccessRequest.handled_at: datetime.now(UTC)}).where(
            AccessRequest.id == row.id
        )
        await record(actor_of(request, staff), "access_request.handled", "access_request", row.id)
        customer = await Customer.objects().where(Customer.id == row.customer).first()
        number = customer.customer_number if customer else ""
        return Redirect(path=f"/staff/customers/{number}", status_code=303)
