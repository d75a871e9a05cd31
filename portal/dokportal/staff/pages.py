"""Rendering staff pages: the common context every staff template needs."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from dokportal.lib.web import render
from dokportal.staff.services import StaffContext


def staff_page(
    request: Request[Any, Any, Any],
    ctx: StaffContext | None,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    """A staff page; ``ctx`` is None on the sign-in pages."""
    return render(
        request,
        template,
        status=status,
        staff=ctx.account if ctx else None,
        staff_role=ctx.role if ctx else "",
        **context,
    )
