"""Pages anyone may read, signed in or not; none of them shows personal data."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from litestar import Controller, Request, get
from litestar.response import Template

from dokportal.i18n.negotiation import NATIVE_NAMES, direction
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, render, translate

AnyRequest = Request[Any, Any, Any]
# When the accessibility statement was last reviewed against the portal (BITV 2.0 § 7).
STATEMENT_REVIEWED = date(2026, 11, 25)


class InfoController(Controller):
    """Easy-language page and accessibility statement (linked from every footer), offline."""

    @get("/leichte-sprache", name="easy_language")
    async def easy_language(self, request: AnyRequest) -> Template:
        settings = runtime_of(request).settings
        return render(
            request,
            "info/easy.html",
            contact_email=settings.tenant.contact_email,
            contact_phone=settings.tenant.contact_phone,
            min_length=settings.security.password_min_length,
            german_enabled="de" in settings.tenant.languages,
        )

    @get("/barrierefreiheit", name="accessibility")
    async def accessibility(self, request: AnyRequest) -> Template:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        return render(
            request,
            "info/accessibility.html",
            contact_email=settings.tenant.contact_email,
            contact_phone=settings.tenant.contact_phone,
            portal_url=settings.public_base_url,
            reviewed=format_date(STATEMENT_REVIEWED, "long", locale=lang),
        )

    @get("/offline", name="offline")
    async def offline(self, request: AnyRequest) -> Template:
        """Kept by the service worker; says 'no connection' in every language the tenant
        offers, since it was cached in whichever language was active at the time."""
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        codes = [lang, *(code for code in settings.tenant.languages if code != lang)]
        notes = [
            {
                "lang": code,
                "dir": direction(code),
                "name": NATIVE_NAMES[code],
                "text": translate(
                    code,
                    "You are offline. Please check your internet connection and try again.",
                ),
            }
            for code in codes
        ]
        return render(request, "info/offline.html", notes=notes, anonymous=True)
