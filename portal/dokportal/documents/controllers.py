"""Customer pages for sending documents and seeing what was sent."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from dokportal import metrics
from dokportal.accounts.guards import CurrentCustomer, provide_customer
from dokportal.audit import Actor, record
from dokportal.documents import services
from dokportal.documents.receipt_pdf import receipt_pdf
from dokportal.documents.receiving import ALLOWED_TYPES, UploadForm, UploadRules, receive_form
from dokportal.documents.tables import Submission
from dokportal.files import FileIngest, scanning
from dokportal.files.form_reader import discard
from dokportal.i18n.negotiation import direction
from dokportal.lib.body import iter_body
from dokportal.lib.downloads import attachment_headers
from dokportal.lib.errors import PortalError, TooLarge, UnsupportedType
from dokportal.lib.formatting import file_size, local_time
from dokportal.lib.multipart import parse_parts
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import STREAM_CSRF, csrf_ok, page_state, render, translate
from dokportal.notices.services import unread_count
from dokportal.settings import DEFAULT_CATEGORIES

AnyRequest = Request[Any, Any, Any]


def _categories(request: AnyRequest) -> list[tuple[str, str]]:
    lang = page_state(request).lang
    enabled = runtime_of(request).settings.tenant.categories
    return [(key, translate(lang, DEFAULT_CATEGORIES[key])) for key in enabled]


def _upload_page(
    request: AnyRequest, *, status: int = 200, error: PortalError | None = None
) -> Template:
    upload = runtime_of(request).settings.upload
    lang = page_state(request).lang
    return render(
        request,
        "documents/upload.html",
        status=status,
        error=error,
        categories=_categories(request),
        max_files=upload.max_files,
        max_file_words=file_size(upload.max_file_bytes, lang),
        accept="application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png",
    )


class DocumentController(Controller):
    """Everything here needs a signed-in customer and shows only their own documents."""

    dependencies = {"customer": Provide(provide_customer)}

    @get("/", name="home")
    async def home(self, request: AnyRequest, customer: CurrentCustomer) -> Template:
        submissions = await services.list_submissions(customer.id)
        return render(
            request,
            "home.html",
            unread=await unread_count(customer.id),
            recent=submissions[:3],
            welcome=request.query_params.get("welcome") == "1",
        )

    @get("/documents", name="documents")
    async def list_documents(self, request: AnyRequest, customer: CurrentCustomer) -> Template:
        runtime = runtime_of(request)
        lang = page_state(request).lang
        submissions = await services.list_submissions(customer.id)
        rejected = await services.rejected_files([item.id for item in submissions])
        rows = [
            {
                "reference": item.reference,
                "when": local_time(item.created_at, lang, runtime.settings.tenant.timezone),
                "category": translate(lang, DEFAULT_CATEGORIES.get(item.category, "Other")),
                "status": item.status,
                "rejected": rejected.get(item.id, []),
            }
            for item in submissions
        ]
        return render(
            request, "documents/list.html", rows=rows, unread=await unread_count(customer.id)
        )

    @get("/documents/new", name="upload")
    async def upload_form(self, request: AnyRequest, customer: CurrentCustomer) -> Template:
        return _upload_page(request)

    @post(
        "/documents",
        opt={STREAM_CSRF: True},
        # The body is read by our own streaming reader with its own limit (lib/body.py).
        request_max_body_size=None,
        status_code=303,
    )
    async def upload(self, request: AnyRequest, customer: CurrentCustomer) -> Template | Redirect:
        """Read the form as a stream, then record it; a refused form shows the page again."""
        started = time.perf_counter()
        try:
            form = await _receive_upload(request)
        except PortalError as error:
            metrics.UPLOAD_REJECTIONS.labels(metrics.rejection_reason(error)).inc()
            if error.field is None and (
                isinstance(error, TooLarge | UnsupportedType) or "name" in error.params
            ):
                error.at("files")  # about a file: mark and link the file inputs
            return _upload_page(request, status=error.status_code, error=error)
        submission = await _record_upload(request, customer, form)
        metrics.UPLOADS.inc()
        metrics.UPLOAD_FILES.inc(len(form.files))
        metrics.UPLOAD_BYTES.inc(sum(item.size for item in form.files))
        metrics.UPLOAD_SECONDS.observe(time.perf_counter() - started)
        # Acknowledged first; the virus scan runs once the answer is out (the worker retries).
        runtime = runtime_of(request)
        scan = BackgroundTask(
            scanning.scan_now,
            runtime.settings,
            runtime.store,
            runtime.keyring,
            await services.stored_ids(submission.id),
        )
        return Redirect(
            path=f"/documents/{submission.reference}?sent=1", status_code=303, background=scan
        )

    @get("/documents/{reference:str}", name="receipt")
    async def receipt(
        self, request: AnyRequest, customer: CurrentCustomer, reference: FromPath[str]
    ) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        receipt = await services.receipt_for(customer.id, reference)
        return render(
            request,
            "documents/receipt.html",
            receipt=receipt,
            when=local_time(receipt.created_at, lang, settings.tenant.timezone),
            category=translate(lang, DEFAULT_CATEGORIES.get(receipt.category, "Other")),
            sizes=[file_size(item.size, lang) for item in receipt.files],
            fresh=request.query_params.get("sent") == "1",
            unread=await unread_count(customer.id),
        )

    @get("/documents/{reference:str}/receipt.pdf", name="receipt_pdf")
    async def receipt_download(
        self, request: AnyRequest, customer: CurrentCustomer, reference: FromPath[str]
    ) -> Response[bytes]:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        receipt = await services.receipt_for(customer.id, reference)
        pdf = receipt_pdf(
            receipt,
            tenant=settings.tenant.name,
            rtl=direction(lang) == "rtl",
            font_path=settings.pdf_font_path,
            tr=lambda text: translate(lang, text),
            when=local_time(receipt.created_at, lang, settings.tenant.timezone),
            category=translate(lang, DEFAULT_CATEGORIES.get(receipt.category, "Other")),
            size=lambda size: file_size(size, lang),
        )
        return Response(
            content=pdf,
            media_type="application/pdf",
            headers=attachment_headers(f"{receipt.reference}.pdf"),
        )


async def _receive_upload(request: AnyRequest) -> UploadForm:
    """The streamed body through the one form reader into stored, encrypted files."""
    runtime = runtime_of(request)
    settings = runtime.settings
    upload = settings.upload
    lang = page_state(request).lang
    limit_words = file_size(upload.max_file_bytes, lang)
    rules = UploadRules(
        max_files=upload.max_files,
        max_file_bytes=upload.max_file_bytes,
        max_file_words=limit_words,
        max_message_chars=upload.max_message_chars,
        categories=settings.tenant.categories,
        max_pages=upload.max_pages,
        max_pixels=upload.max_image_pixels,
    )

    def new_ingest(filename: str) -> FileIngest:
        return FileIngest(
            store=runtime.store,
            keyring=runtime.keyring,
            tenant=settings.tenant.slug,
            filename=filename,
            max_bytes=upload.max_file_bytes,
            max_words=limit_words,
            allowed=ALLOWED_TYPES,
            max_pixels=upload.max_image_pixels,
        )

    body = iter_body(request, upload.max_body_bytes, file_size(upload.max_body_bytes, lang))
    return await receive_form(
        parse_parts(body, request.headers.get("content-type")),
        csrf_ok=lambda token: csrf_ok(request, token),
        rules=rules,
        new_ingest=new_ingest,
        store=runtime.store,
    )


async def _record_upload(
    request: AnyRequest, customer: CurrentCustomer, form: UploadForm
) -> Submission:
    """Rows for blobs that are durable, then the audit event; orphans are removed on failure."""
    runtime = runtime_of(request)
    try:
        submission = await services.record_submission(
            customer_id=customer.id,
            category=form.category,
            message=form.message,
            files=form.files,
            prefix=runtime.settings.tenant.reference_prefix,
            scan_state=scanning.initial_state(runtime.settings.scan),
        )
    except BaseException:
        await discard(runtime.store, form.files)
        raise
    await record(
        Actor(
            kind="customer",
            id=customer.customer_number,
            source_ip=request.client.host if request.client else "",
        ),
        "submission.received",
        "submission",
        submission.reference,
    )
    return submission
