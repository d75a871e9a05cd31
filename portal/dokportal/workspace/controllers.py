"""The team's inbox and one submission: read, download, assign, set status, add notes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Stream, Template

from dokportal.audit import record
from dokportal.documents.tables import Submission
from dokportal.export.xdomea import Handover, manifest
from dokportal.files import safe_copies, scanning
from dokportal.files.names import with_type_extension
from dokportal.files.reading import open_decrypted, opened_lazily, require_keys
from dokportal.files.tables import StoredFile
from dokportal.lib.downloads import attachment_headers
from dokportal.lib.errors import BadRequest, Forbidden
from dokportal.lib.formatting import file_size, local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, translate
from dokportal.settings import DEFAULT_CATEGORIES
from dokportal.staff.guards import CurrentStaff, actor_of, provide_staff
from dokportal.staff.pages import staff_page
from dokportal.staff.services import StaffContext, colleagues
from dokportal.workspace import services
from dokportal.workspace.bundles import merged_pdf, unique_names, zip_stream

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def opener(request: AnyRequest) -> Any:
    """Opens each file of a bundle in turn (their keys were checked by `require_keys`)."""
    runtime = runtime_of(request)

    def open_file(stored: StoredFile) -> Any:
        return opened_lazily(runtime.store, runtime.keyring, runtime.settings.tenant.slug, stored)

    return open_file


LEFT_OUT_NOTE = "NICHT-ENTHALTEN.txt"


def _left_out_note(left_out: list[StoredFile]) -> dict[str, bytes]:
    """A ZIP member naming the quarantined files that were left out, so a bundle never
    lacks a file silently (German: it goes to the office's e-file)."""
    if not left_out:
        return {}
    lines = [
        "Diese Dateien wurden nicht aufgenommen: die Virenprüfung hat sie zurückgewiesen",
        "(Quarantäne, verschlüsselt aufbewahrt).",
        "",
        *(f"- {row.display_name}: {row.scan_signature or 'nicht prüfbar'}" for row in left_out),
    ]
    return {LEFT_OUT_NOTE: ("\n".join(lines) + "\n").encode()}


def check_keys(request: AnyRequest, files: list[StoredFile]) -> None:
    """Before a bundle's first byte: every file's key is in the keyring, or 503."""
    require_keys(runtime_of(request).keyring, files)


async def _submission(ctx: StaffContext, reference: str) -> Submission:
    return await services.submission_for_team(ctx.team_id, reference)


class WorkspaceController(Controller):
    """Every route needs a full staff session; submissions of other teams are 'not found'."""

    path = "/staff"
    dependencies = {"staff": Provide(provide_staff)}

    @get("/", name="workspace")
    async def inbox(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        query = request.query_params
        filters = services.InboxFilter(
            status=query.get("status", "")[:16],
            category=query.get("category", "")[:32],
            customer=query.get("customer", "")[:32],
            date_from=_date(query.get("from")),
            date_to=_date(query.get("to")),
            mine=query.get("mine") == "1",
        )
        box = await services.inbox(staff.team_id, filters, settings.tenant.timezone, staff.id)
        return staff_page(
            request,
            staff,
            "staff/inbox.html",
            box=box,
            filters=filters,
            when=lambda moment: local_time(moment, lang, settings.tenant.timezone),
            category_label=lambda key: translate(lang, DEFAULT_CATEGORIES.get(key, "Other")),
            categories=[
                (key, translate(lang, DEFAULT_CATEGORIES[key]))
                for key in settings.tenant.categories
            ],
        )

    @get("/submissions/{reference:str}", name="staff_submission")
    async def show(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str]
    ) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        submission = await _submission(staff, reference)
        customer = await services.customer_of(submission)
        files = await services.files_of(submission.id)
        await record(
            actor_of(request, staff), "submission.viewed", "submission", submission.reference
        )
        return staff_page(
            request,
            staff,
            "staff/submission.html",
            submission=submission,
            person=customer,
            files=files,
            sizes=[file_size(f.size, lang) for f in files],
            notes=await services.notes_of(submission.id),
            team=await colleagues(staff.team_id),
            when=lambda moment: local_time(moment, lang, settings.tenant.timezone),
            category=translate(lang, DEFAULT_CATEGORIES.get(submission.category, "Other")),
            inline_types=INLINE_TYPES,
        )

    @get("/submissions/{reference:str}/files/{position:int}", name="staff_file")
    async def file(
        self,
        request: AnyRequest,
        staff: CurrentStaff,
        reference: FromPath[str],
        position: FromPath[int],
    ) -> Stream | Template:
        """A file; for a PDF with active content its safe copy, the original only when
        asked for (``?original=1``) and confirmed after a warning (``&confirm=1``)."""
        submission = await _submission(staff, reference)
        stored = await services.file_at(submission.id, position)
        scanning.ensure_servable(stored)  # being checked, or quarantined: not one byte
        query = request.query_params
        if stored.active_content:
            wants_original = query.get("original") == "1"
            copy = None if wants_original else await safe_copies.safe_copy_of(stored)
            if copy is None and not (wants_original and query.get("confirm") == "1"):
                return staff_page(
                    request,
                    staff,
                    "staff/active_content.html",
                    submission=submission,
                    stored=stored,
                    position=position,
                    kinds=stored.active_content.split(","),
                    asked_for_original=wants_original,
                )
            if copy is None:
                await record(
                    actor_of(request, staff), "file.original_opened", "stored_file", stored.id
                )
                headers = attachment_headers(
                    with_type_extension(stored.display_name, stored.content_type)
                )
                headers["content-length"] = str(stored.size)
                runtime = runtime_of(request)
                original = await open_decrypted(
                    runtime.store, runtime.keyring, runtime.settings.tenant.slug, stored
                )
                return Stream(original, media_type=stored.content_type, headers=headers)
            stored = copy
        inline = query.get("inline") == "1" and stored.content_type in INLINE_TYPES
        runtime = runtime_of(request)
        plain = await open_decrypted(
            runtime.store, runtime.keyring, runtime.settings.tenant.slug, stored
        )
        await record(
            actor_of(request, staff),
            "file.viewed" if inline else "file.downloaded",
            "stored_file",
            stored.id,
        )
        headers = attachment_headers(
            with_type_extension(stored.display_name, stored.content_type), inline=inline
        )
        headers["content-length"] = str(stored.size)
        return Stream(plain, media_type=stored.content_type, headers=headers)

    @get("/submissions/{reference:str}/bundle.zip", name="staff_bundle_zip")
    async def bundle_zip(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str]
    ) -> Stream:
        submission = await _submission(staff, reference)
        files, left_out = scanning.split_servable(await services.files_of(submission.id))
        files = await safe_copies.for_staff(files)
        check_keys(request, files)
        await record(actor_of(request, staff), "submission.zip", "submission", submission.reference)
        return Stream(
            zip_stream(unique_names(files), opener(request), extra=_left_out_note(left_out)),
            media_type="application/zip",
            headers=attachment_headers(f"{submission.reference}.zip"),
        )

    @get("/submissions/{reference:str}/bundle.pdf", name="staff_bundle_pdf")
    async def bundle_pdf(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str]
    ) -> Response[bytes]:
        submission = await _submission(staff, reference)
        files, left_out = scanning.split_servable(await services.files_of(submission.id))
        if left_out:
            raise Forbidden(
                "The file %(name)s is quarantined and cannot be part of one PDF. "
                "Please use the ZIP, which holds the other files.",
                name=left_out[0].display_name,
            )
        files = await safe_copies.for_staff(files)
        check_keys(request, files)
        pdf = await merged_pdf(files, opener(request))
        await record(actor_of(request, staff), "submission.pdf", "submission", submission.reference)
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers=attachment_headers(f"{submission.reference}.pdf"),
        )

    @get("/submissions/{reference:str}/xdomea.zip", name="staff_xdomea")
    async def xdomea(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str]
    ) -> Stream:
        settings = runtime_of(request).settings
        submission = await _submission(staff, reference)
        customer = await services.customer_of(submission)
        files, left_out = scanning.split_servable(await services.files_of(submission.id))
        check_keys(request, files)
        members = unique_names(files)
        document = manifest(
            Handover(
                tenant=settings.tenant.name,
                reference=submission.reference,
                subject=translate("de", DEFAULT_CATEGORIES.get(submission.category, "Other")),
                received_at=submission.created_at,
                message=submission.message,
                customer_number=customer.customer_number,
                customer_name=customer.display_name,
                files=[(m.name, m.stored) for m in members],
            )
        )
        await record(
            actor_of(request, staff), "submission.xdomea", "submission", submission.reference
        )
        return Stream(
            zip_stream(
                members,
                opener(request),
                extra={"manifest.xml": document, **_left_out_note(left_out)},
            ),
            media_type="application/zip",
            headers=attachment_headers(f"{submission.reference}-xdomea.zip"),
        )

    @post("/submissions/{reference:str}/assign", status_code=303)
    async def assign(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str], data: Form
    ) -> Redirect:
        submission = await _submission(staff, reference)
        raw = str(data.get("assignee", ""))
        if raw == "me":
            target: int | None = staff.id
        elif raw == "":
            target = None
        elif raw.isdigit() and len(raw) <= 9:
            target = int(raw)
        else:
            raise BadRequest("Please choose a colleague from your team.")
        assert staff.team_id is not None  # _submission found it in the team
        await services.assign(submission, target, staff.team_id)
        await record(
            actor_of(request, staff), "submission.assigned", "submission", submission.reference
        )
        return Redirect(path=f"/staff/submissions/{submission.reference}", status_code=303)

    @post("/submissions/{reference:str}/status", status_code=303)
    async def status(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str], data: Form
    ) -> Redirect:
        submission = await _submission(staff, reference)
        status = str(data.get("status", ""))[:16]
        await services.set_status(submission, status)
        await record(
            actor_of(request, staff),
            f"submission.status.{status}",
            "submission",
            submission.reference,
        )
        return Redirect(path=f"/staff/submissions/{submission.reference}", status_code=303)

    @post("/submissions/{reference:str}/notes", status_code=303)
    async def note(
        self, request: AnyRequest, staff: CurrentStaff, reference: FromPath[str], data: Form
    ) -> Redirect:
        submission = await _submission(staff, reference)
        await services.add_note(submission, staff.id, str(data.get("body", ""))[:8000])
        # The note's text stays out of the audit trail: only that one was written.
        await record(
            actor_of(request, staff), "submission.note", "submission", submission.reference
        )
        return Redirect(path=f"/staff/submissions/{submission.reference}", status_code=303)
