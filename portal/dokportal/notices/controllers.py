"""The customer's inbox of notices (Bescheide)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Stream, Template

from dokportal.accounts.guards import CurrentCustomer, provide_customer
from dokportal.audit import Actor, record
from dokportal.files import open_decrypted, scanning
from dokportal.files.names import with_type_extension
from dokportal.lib.downloads import attachment_headers
from dokportal.lib.formatting import file_size, local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, render
from dokportal.notices import services

AnyRequest = Request[Any, Any, Any]


def _actor(request: AnyRequest, number: str) -> Actor:
    return Actor(
        kind="customer", id=number, source_ip=request.client.host if request.client else ""
    )


class NoticeController(Controller):
    """Only the signed-in customer's own notices; another id is 'not found'."""

    path = "/notices"
    dependencies = {"customer": Provide(provide_customer)}

    @get("/", name="notices")
    async def inbox(self, request: AnyRequest, customer: CurrentCustomer) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        notices = await services.list_notices(customer.id)
        rows = [
            {
                "id": notice.id,
                "title": notice.title,
                "when": local_time(notice.created_at, lang, settings.tenant.timezone),
                "unread": notice.read_at is None,
            }
            for notice in notices
        ]
        unread = sum(1 for row in rows if row["unread"])
        return render(request, "notices/list.html", rows=rows, unread=unread)

    @get("/{notice_id:int}", name="notice")
    async def show(
        self, request: AnyRequest, customer: CurrentCustomer, notice_id: FromPath[int]
    ) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        notice = await services.notice_for(customer.id, notice_id)
        if notice.read_at is None:
            await record(
                _actor(request, customer.customer_number), "notice.opened", "notice", notice.id
            )
        await services.mark_read(notice)
        stored = await services.stored_file(notice)
        return render(
            request,
            "notices/show.html",
            notice=notice,
            when=local_time(notice.created_at, lang, settings.tenant.timezone),
            size=file_size(stored.size, lang),
            unread=await services.unread_count(customer.id),
        )

    @get("/{notice_id:int}/file", name="notice_file")
    async def download(
        self, request: AnyRequest, customer: CurrentCustomer, notice_id: FromPath[int]
    ) -> Stream:
        runtime = runtime_of(request)
        notice = await services.notice_for(customer.id, notice_id)
        stored = await services.stored_file(notice)
        scanning.ensure_servable(stored)
        await record(
            _actor(request, customer.customer_number), "notice.downloaded", "notice", notice.id
        )
        # Opened before it counts as downloaded: a missing key or store answers 503 first.
        plain = await open_decrypted(
            runtime.store, runtime.keyring, runtime.settings.tenant.slug, stored
        )
        await services.mark_downloaded(notice)
        headers = attachment_headers(with_type_extension(stored.display_name, stored.content_type))
        headers["content-length"] = str(stored.size)
        return Stream(
            plain,
            media_type=stored.content_type,
            headers=headers,
        )
