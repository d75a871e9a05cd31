"""Customer accounts for the team: create, activation letter, lock/unlock, send notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template

from dokportal.audit import record
from dokportal.files import FileIngest, scanning
from dokportal.i18n.negotiation import NATIVE_NAMES, direction
from dokportal.lib.body import iter_body
from dokportal.lib.downloads import attachment_headers
from dokportal.lib.errors import BadRequest, PortalError
from dokportal.lib.formatting import file_size, local_time
from dokportal.lib.multipart import parse_parts
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import STREAM_CSRF, csrf_ok, page_state, translate
from dokportal.notices import delivery
from dokportal.notices.services import PDF_ONLY
from dokportal.staff.guards import CurrentStaff, actor_of, provide_lead, provide_staff
from dokportal.staff.pages import staff_page
from dokportal.staff.services import StaffContext
from dokportal.workspace import customers
from dokportal.workspace.letters import LetterData, activation_letter
from dokportal.workspace.receiving import SingleFileForm, receive_single_file

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _text(data: dict[str, str], name: str, limit: int = 256) -> str:
    value = data.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


class CustomerController(Controller):
    """Customers of the signed-in staff member's team; others are 'not found'."""

    path = "/staff/customers"
    dependencies = {"staff": Provide(provide_staff)}

    async def _detail(
        self,
        request: AnyRequest,
        staff: StaffContext,
        number: str,
        *,
        status: int = 200,
        error: PortalError | None = None,
    ) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        customer = await customers.customer_for_team(staff.team_id, number)
        return staff_page(
            request,
            staff,
            "staff/customer.html",
            status=status,
            error=error,
            person=customer,
            submissions=await customers.submissions_of(customer.id),
            notices=await customers.notices_of(customer.id),
            electronic=delivery.electronic_possible(customer),
            language_name=NATIVE_NAMES.get(customer.preferred_language, ""),
            when=lambda moment: local_time(moment, lang, settings.tenant.timezone),
            max_words=file_size(settings.upload.max_file_bytes, lang),
            request_sent=request.query_params.get("sent", ""),
        )

    @get("/", name="staff_customers")
    async def index(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        search = request.query_params.get("q", "")[:64]
        return staff_page(
            request,
            staff,
            "staff/customers.html",
            rows=await customers.customers_of_team(staff.team_id, search),
            search=search,
        )

    @get("/new", name="staff_customer_new")
    async def new(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        return self._form(request, staff)

    def _form(
        self,
        request: AnyRequest,
        staff: StaffContext,
        *,
        status: int = 200,
        problems: list[str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Template:
        settings = runtime_of(request).settings
        return staff_page(
            request,
            staff,
            "staff/customer_new.html",
            status=status,
            problems=problems or [],
            form=form or {"language": settings.tenant.default_language},
            language_choices=[(c, NATIVE_NAMES[c]) for c in settings.tenant.languages],
        )

    @post("/", status_code=303)
    async def create(
        self, request: AnyRequest, staff: CurrentStaff, data: Form
    ) -> Template | Redirect:
        settings = runtime_of(request).settings
        form = {
            key: _text(data, key, 256)
            for key in ("number", "name", "language", "email", "date_of_birth")
        }
        if staff.team_id is None:
            raise BadRequest("Only members of a team can create customers.")
        new, problems = customers.parse_new_customer(
            number=form["number"],
            name=form["name"],
            language=form["language"],
            email=form["email"],
            birth=form["date_of_birth"],
            languages=settings.tenant.languages,
        )
        if new is None:
            return self._form(request, staff, status=400, problems=problems, form=form)
        try:
            row = await customers.create_customer(new, staff.team_id)
        except PortalError as error:
            return self._form(
                request, staff, status=error.status_code, problems=[error.message], form=form
            )
        await record(actor_of(request, staff), "customer.created", "customer", row.customer_number)
        return Redirect(path=f"/staff/customers/{row.customer_number}?created=1", status_code=303)

    @get("/{number:str}", name="staff_customer")
    async def show(
        self, request: AnyRequest, staff: CurrentStaff, number: FromPath[str]
    ) -> Template:
        return await self._detail(request, staff, number)

    @post("/{number:str}/letter", status_code=200)
    async def letter(
        self, request: AnyRequest, staff: CurrentStaff, number: FromPath[str], data: Form
    ) -> Response[bytes]:
        """A new one-time code (the old one stops working), printed into the letter."""
        settings = runtime_of(request).settings
        customer = await customers.customer_for_team(staff.team_id, number)
        if customer.activated_at is not None:
            raise BadRequest("This customer has already activated the access.")
        code = await customers.new_code(customer, settings.security.activation_code_days)
        lang = customer.preferred_language
        tz = settings.tenant.timezone
        until = datetime.now(UTC) + timedelta(days=settings.security.activation_code_days)
        pdf = activation_letter(
            LetterData(
                tenant=settings.tenant.name,
                letterhead=settings.tenant.letterhead,
                customer_name=customer.display_name,
                customer_number=customer.customer_number,
                code=code,
                url=f"{settings.public_base_url}/activate",
                valid_until=local_time(until, lang, tz),
                valid_until_de=local_time(until, "de", tz),
                date=local_time(datetime.now(UTC), "de", tz),
            ),
            lang=lang,
            rtl=direction(lang) == "rtl",
            font_path=settings.pdf_font_path,
            tr=lambda text: translate(lang, text),
            tr_de=lambda text: translate("de", text),
        )
        await record(
            actor_of(request, staff), "customer.letter", "customer", customer.customer_number
        )
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers=attachment_headers(f"Aktivierung-{customer.customer_number}.pdf"),
        )

    @post("/{number:str}/lock", status_code=303, dependencies={"staff": Provide(provide_lead)})
    async def lock(
        self, request: AnyRequest, staff: CurrentStaff, number: FromPath[str], data: Form
    ) -> Redirect:
        customer = await customers.customer_for_team(staff.team_id, number)
        await customers.set_locked(customer, True)
        await record(
            actor_of(request, staff), "customer.locked", "customer", customer.customer_number
        )
        return Redirect(path=f"/staff/customers/{customer.customer_number}", status_code=303)

    @post("/{number:str}/unlock", status_code=303, dependencies={"staff": Provide(provide_lead)})
    async def unlock(
        self, request: AnyRequest, staff: CurrentStaff, number: FromPath[str], data: Form
    ) -> Redirect:
        customer = await customers.customer_for_team(staff.team_id, number)
        await customers.set_locked(customer, False)
        await record(
            actor_of(request, staff), "customer.unlocked", "customer", customer.customer_number
        )
        return Redirect(path=f"/staff/customers/{customer.customer_number}", status_code=303)

    @post(
        "/{number:str}/notices",
        opt={STREAM_CSRF: True},
        request_max_body_size=None,
        status_code=303,
    )
    async def send_notice(
        self, request: AnyRequest, staff: CurrentStaff, number: FromPath[str]
    ) -> Template | Redirect:
        """PDF upload streamed through the same pipeline as customer uploads."""
        customer = await customers.customer_for_team(staff.team_id, number)
        try:
            form = await _receive_notice(request)
            assert form.file is not None
            runtime = runtime_of(request)
            # Scanned before it is recorded: the customer never gets a notice (and its
            # deemed-delivery date) that cannot be opened.
            scan_state = await scanning.scan_before_recording(
                runtime.settings,
                runtime.store,
                runtime.keyring,
                form.file,
                actor=actor_of(request, staff),
                subject=("customer", customer.customer_number),
            )
            notice = await delivery.record_staff_notice(
                customer=customer,
                title=form.fields.get("title", ""),
                message=form.fields.get("message", ""),
                staff_id=staff.id,
                ingested=form.file,
                store=runtime.store,
                scan_state=scan_state,
            )
        except PortalError as error:
            return await self._detail(request, staff, number, status=error.status_code, error=error)
        await record(actor_of(request, staff), "notice.sent", "notice", notice.id)
        return Redirect(
            path=f"/staff/customers/{customer.customer_number}?sent={notice.delivery}",
            status_code=303,
        )


async def _receive_notice(request: AnyRequest) -> SingleFileForm:
    """The notice form through the one streaming form reader: PDF only, per-file limit."""
    runtime = runtime_of(request)
    settings = runtime.settings
    limit = settings.upload.max_file_bytes
    words = file_size(limit, page_state(request).lang)

    def new_ingest(filename: str) -> FileIngest:
        return FileIngest(
            store=runtime.store,
            keyring=runtime.keyring,
            tenant=settings.tenant.slug,
            filename=filename,
            max_bytes=limit,
            max_words=words,
            allowed=PDF_ONLY,
        )

    body = iter_body(request, limit + 1024 * 1024, words)
    return await receive_single_file(
        parse_parts(body, request.headers.get("content-type")),
        csrf_ok=lambda token: csrf_ok(request, token),
        new_ingest=new_ingest,
        file_field="file",
        store=runtime.store,
    )
