"""``/api/v1``: the e-file pulls new submissions, their files, and acknowledges them."""

from __future__ import annotations

import base64
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from dokportal.accounts.tables import Customer
from dokportal.api import services
from dokportal.api.guards import SCOPE_OPT, api_actor, token_guard
from dokportal.api.schemas import (
    Acknowledged,
    FileInfo,
    SubmissionDetail,
    SubmissionPage,
    SubmissionSummary,
)
from dokportal.audit import record
from dokportal.documents.tables import Submission
from dokportal.files import open_decrypted, scanning
from dokportal.files.names import with_type_extension
from dokportal.lib.downloads import attachment_headers
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import TOKEN_AUTH
from dokportal.workspace.services import file_at, files_of

AnyRequest = Request[Any, Any, Any]


async def _numbers(rows: list[Submission]) -> dict[int, Customer]:
    ids = list({row.customer for row in rows}) or [0]
    return {c.id: c for c in await Customer.objects().where(Customer.id.is_in(ids))}


class ExportApiController(Controller):
    """Bearer-token routes: no cookies, no CSRF token (see api/guards.py)."""

    path = "/api/v1"
    guards = [token_guard]
    opt = {TOKEN_AUTH: True, SCOPE_OPT: "read"}
    tags = ["export"]
    security = [{"token": []}]

    @get("/submissions", summary="Submissions since a cursor, oldest first")
    async def list_submissions(
        self,
        request: AnyRequest,
        since: int = Parameter(
            default=0, ge=0, le=2**31 - 1, description="Last cursor you processed"
        ),
        limit: int = Parameter(default=100, ge=1, le=500),
    ) -> SubmissionPage:
        page = await services.submissions_since(since, limit)
        customers = await _numbers(page.items)
        await record(api_actor(request), "api.listed", "cursor", since)
        return SubmissionPage(
            items=[
                SubmissionSummary(
                    reference=row.reference,
                    status=row.status,
                    category=row.category,
                    created_at=row.created_at,
                    customer_number=customers[row.customer].customer_number
                    if row.customer in customers
                    else "",
                    url=f"/api/v1/submissions/{row.reference}",
                )
                for row in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @get("/submissions/{reference:str}", summary="Metadata of one submission")
    async def detail(self, request: AnyRequest, reference: FromPath[str]) -> SubmissionDetail:
        row = await services.submission(reference)
        customer = (await _numbers([row])).get(row.customer)
        files = await files_of(row.id)
        await record(api_actor(request), "api.metadata", "submission", row.reference)
        return SubmissionDetail(
            reference=row.reference,
            status=row.status,
            category=row.category,
            message=row.message,
            created_at=row.created_at,
            customer_number=customer.customer_number if customer else "",
            customer_name=customer.display_name if customer else "",
            files=[
                FileInfo(
                    position=index,
                    name=with_type_extension(stored.display_name, stored.content_type),
                    content_type=stored.content_type,
                    size=stored.size,
                    sha256=stored.sha256,
                    scan=stored.scan_state,
                    url=f"/api/v1/submissions/{row.reference}/files/{index}",
                    active_content=[kind for kind in stored.active_content.split(",") if kind],
                )
                for index, stored in enumerate(files)
            ],
        )

    @get(
        "/submissions/{reference:str}/files/{position:int}",
        summary="One file, decrypted; its SHA-256 in the X-Content-SHA256 header",
        media_type="application/octet-stream",
    )
    async def file(
        self, request: AnyRequest, reference: FromPath[str], position: FromPath[int]
    ) -> Stream:
        runtime = runtime_of(request)
        row = await services.submission(reference)
        stored = await file_at(row.id, position)
        scanning.ensure_servable(stored)  # 409 while being checked, 403 when quarantined
        plain = await open_decrypted(
            runtime.store, runtime.keyring, runtime.settings.tenant.slug, stored
        )
        await record(api_actor(request), "api.file_read", "stored_file", stored.id)
        headers = attachment_headers(with_type_extension(stored.display_name, stored.content_type))
        headers["content-length"] = str(stored.size)
        headers["x-content-sha256"] = stored.sha256
        # RFC 9530: the digest of the representation, base64 of the raw SHA-256.
        raw = bytes.fromhex(stored.sha256)
        headers["repr-digest"] = f"sha-256=:{base64.b64encode(raw).decode()}:"
        return Stream(
            plain,
            media_type=stored.content_type,
            headers=headers,
        )

    @post(
        "/submissions/{reference:str}/acknowledge",
        summary="The e-file has it: status becomes 'transferred'",
        opt={SCOPE_OPT: "acknowledge"},
        status_code=200,
    )
    async def acknowledge(self, request: AnyRequest, reference: FromPath[str]) -> Acknowledged:
        row = await services.submission(reference)
        # Not while a file is still being checked: the e-file would not have it yet, and
        # retention counts from the acknowledgement.
        scanning.split_servable(await files_of(row.id))
        changed = await services.acknowledge(row)
        if changed:
            await record(api_actor(request), "api.acknowledged", "submission", row.reference)
        return Acknowledged(reference=row.reference, status="transferred", changed=changed)
