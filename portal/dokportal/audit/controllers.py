"""The admin's view of the audit trail, with filters; reading it is itself not audited
(it holds no document contents)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template

from dokportal.audit.services import AuditFilter, search, verify_chain
from dokportal.lib.formatting import local_time
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state
from dokportal.staff.guards import CurrentStaff, provide_admin
from dokportal.staff.pages import staff_page

AnyRequest = Request[Any, Any, Any]


def _day(value: str | None, timezone: str, plus: int = 0) -> datetime | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=plus), time.min, ZoneInfo(timezone)).astimezone(
        UTC
    )


class AuditController(Controller):
    path = "/staff/admin/audit"
    dependencies = {"staff": Provide(provide_admin)}

    @get("/", name="staff_audit")
    async def index(self, request: AnyRequest, staff: CurrentStaff) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        tz = settings.tenant.timezone
        query = request.query_params
        filters = AuditFilter(
            action=query.get("action", "")[:64],
            actor_id=query.get("actor", "")[:64],
            object_id=query.get("object", "")[:64],
            since=_day(query.get("from"), tz),
            until=_day(query.get("to"), tz, plus=1),
        )
        return staff_page(
            request,
            staff,
            "staff/audit.html",
            events=await search(filters),
            form={
                key: query.get(key, "")[:64] for key in ("action", "actor", "object", "from", "to")
            },
            chain=await verify_chain() if query.get("verify") == "1" else None,
            when=lambda moment: local_time(moment, lang, tz),
        )
