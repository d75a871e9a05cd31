"""Per-request plumbing shared by every page: language, CSRF, session, rendering.

Runs as Litestar ``before_request`` hook; cookies it decides to set are written by
:class:`CookieWriter`, because ``after_request`` hooks cannot see the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.response import Template
from litestar.types import Scope

from dokportal import metrics
from dokportal.i18n.catalogs import translations
from dokportal.i18n.negotiation import COOKIE as LANG_COOKIE
from dokportal.i18n.negotiation import NATIVE_NAMES, direction, negotiate
from dokportal.lib import csrf
from dokportal.lib.asgi import UPLOAD_REFUSED, ResponseHeadersMiddleware
from dokportal.lib.errors import (
    Forbidden,
    NotFound,
    PortalError,
    TooManyAttempts,
    UnsupportedType,
)
from dokportal.lib.runtime import runtime_of
from dokportal.settings import SecuritySettings

AnyRequest = Request[Any, Any, Any]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The largest id a database integer column holds (PostgreSQL's serial).
MAX_ID = 2**31 - 1
# Routes whose handler checks the CSRF field itself, in the stream (the upload).
STREAM_CSRF = "csrf_in_stream"
# Routes authenticated only by a bearer token in a header (the export API): no cookies are
# read there, so there is nothing for a cross-site request to ride on; see api/guards.py.
TOKEN_AUTH = "token_auth"  # noqa: S105 - an option name, not a secret


def session_cookie_name(secure: bool) -> str:
    """The customer's session cookie."""
    return "__Host-session" if secure else "session"


def staff_cookie_name(secure: bool) -> str:
    """The staff member's session cookie (separate from the customer's)."""
    return "__Host-staff" if secure else "staff"


def _session_cookie_names(secure: bool) -> tuple[str, str]:
    return session_cookie_name(secure), staff_cookie_name(secure)


class SignedIn(Protocol):
    """What pages need from a signed-in customer's session (resolved by the accounts
    domain, handed in by the app: this module knows no domain)."""

    @property
    def token_hash(self) -> str: ...

    @property
    def customer(self) -> Any: ...


# Finds the customer session for a cookie value (accounts.services.resume_session).
SessionResolver = Callable[[str | None, SecuritySettings], Awaitable[SignedIn | None]]


@dataclass
class PageState:
    lang: str
    csrf_cookie: str
    session: SignedIn | None
    cookies: list[Cookie]


def page_state(request: AnyRequest) -> PageState:
    """The request's page state; error pages for unrouted paths get a neutral default."""
    state = request.state.get("page") if hasattr(request.state, "get") else None
    if isinstance(state, PageState):
        return state
    settings = runtime_of(request).settings
    fallback = PageState(
        lang=negotiate(
            settings.tenant.languages,
            settings.tenant.default_language,
            cookie=request.cookies.get(LANG_COOKIE),
            accept_language=request.headers.get("accept-language"),
        ),
        csrf_cookie="",
        session=None,
        cookies=[],
    )
    request.state.page = fallback
    return fallback


def make_prepare_request(
    resume_session: SessionResolver,
) -> Callable[[AnyRequest], Awaitable[None]]:
    """The ``before_request`` hook, with the customer session resolver of the app."""

    async def hook(request: AnyRequest) -> None:
        await prepare_request(request, resume_session)

    return hook


async def prepare_request(request: AnyRequest, resume_session: SessionResolver) -> None:
    """Choose the language, make sure a CSRF cookie exists, find the session, check CSRF."""
    if request.url.path.startswith(("/static/", "/healthz", "/readyz")):
        return
    # Ids beyond a database integer are simply "not found" (rather than a driver error).
    for value in request.path_params.values():
        if isinstance(value, int) and abs(value) > MAX_ID:
            raise NotFound("This page was not found.")
    if request.route_handler.opt.get(TOKEN_AUTH):
        return
    runtime = runtime_of(request)
    settings = runtime.settings
    secure = settings.secure_cookies
    cookies: list[Cookie] = []

    explicit = request.query_params.get("lang")
    lang = negotiate(
        settings.tenant.languages,
        settings.tenant.default_language,
        explicit=explicit,
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )
    if explicit == lang and request.cookies.get(LANG_COOKIE) != lang:
        cookies.append(
            Cookie(
                key=LANG_COOKIE,
                value=lang,
                max_age=365 * 24 * 3600,
                path="/",
                secure=secure,
                httponly=True,
                samesite="lax",
            )
        )

    csrf_name = csrf.cookie_name(secure)
    csrf_cookie = request.cookies.get(csrf_name) or ""
    if not csrf_cookie or len(csrf_cookie) > 128:
        csrf_cookie = csrf.new_cookie_value()
        cookies.append(_csrf_cookie(csrf_name, csrf_cookie, secure))

    session = await resume_session(
        request.cookies.get(session_cookie_name(secure)), settings.security
    )
    request.state.page = PageState(
        lang=lang, csrf_cookie=csrf_cookie, session=session, cookies=cookies
    )

    if request.scope.get(UPLOAD_REFUSED) and request.route_handler.opt.get(STREAM_CSRF):
        metrics.UPLOAD_REJECTIONS.labels("too_many_in_progress").inc()
        raise TooManyAttempts(
            "You are already sending several uploads. Please wait until they are finished."
        )
    if request.method in UNSAFE_METHODS and not request.route_handler.opt.get(STREAM_CSRF):
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise UnsupportedType("This form could not be read. Please send it again.")
        form = await request.form()
        submitted = form.get(csrf.FIELD_NAME)
        if not csrf_ok(request, submitted if isinstance(submitted, str) else None):
            raise Forbidden("The form has expired. Please reload the page and try again.")


def _csrf_cookie(name: str, value: str, secure: bool) -> Cookie:
    return Cookie(key=name, value=value, path="/", secure=secure, httponly=True, samesite="strict")


def _session_binding(cookie_of: Callable[[str], str | None], secure: bool) -> str:
    """What the form token is bound to besides the CSRF cookie: the session cookies."""
    return csrf.session_binding(*(cookie_of(name) for name in _session_cookie_names(secure)))


def csrf_ok(request: AnyRequest, submitted: str | None) -> bool:
    """The submitted token belongs to this browser's CSRF cookie *and* its current
    sessions: one minted before sign-in, or for another session, is refused."""
    runtime = runtime_of(request)
    secure = runtime.settings.secure_cookies
    return csrf.token_matches(
        runtime.csrf_secret,
        request.cookies.get(csrf.cookie_name(secure)),
        submitted,
        _session_binding(request.cookies.get, secure),
    )


def queue_cookie(request: AnyRequest, cookie: Cookie) -> None:
    """Set ``cookie`` with the response. A session cookie set or cleared (sign-in, the
    second factor, sign-out) brings a new CSRF cookie with it: forms from before are void."""
    state = page_state(request)
    state.cookies.append(cookie)
    secure = runtime_of(request).settings.secure_cookies
    if cookie.key in _session_cookie_names(secure):
        state.csrf_cookie = csrf.new_cookie_value()
        state.cookies.append(_csrf_cookie(csrf.cookie_name(secure), state.csrf_cookie, secure))


def _effective_cookie(request: AnyRequest, name: str) -> str | None:
    """A cookie's value as the browser will hold it after this response."""
    for cookie in reversed(page_state(request).cookies):
        if cookie.key == name:
            return cookie.value if cookie.max_age != 0 and cookie.value else None
    return request.cookies.get(name)


def form_token(request: AnyRequest) -> str:
    """The CSRF token for forms on the page being rendered."""
    runtime = runtime_of(request)
    secure = runtime.settings.secure_cookies
    state = page_state(request)
    if not state.csrf_cookie:
        return ""
    binding = _session_binding(lambda name: _effective_cookie(request, name), secure)
    return csrf.form_token(runtime.csrf_secret, state.csrf_cookie, binding)


def same_site_path(path: str) -> str:
    """``path`` as a link that can only point into this site.

    The path of a 404 page is whatever was asked for: ``//evil.example/x`` (or with
    backslashes, which browsers read as slashes) would become a link to another host. Leading
    slashes and backslashes collapse into one slash; the rest is percent-encoded, so no
    backslash, control character or second leading slash survives.
    """
    rest = path.lstrip("/\\")
    return "/" + quote(rest, safe="/-._~!$&'()*+,;=:@")


def translate(lang: str, message: str, params: dict[str, Any] | None = None) -> str:
    text = translations(lang).gettext(message)
    return text % params if params else text


def render(
    request: AnyRequest,
    template: str,
    *,
    status: int = 200,
    anonymous: bool = False,
    **context: Any,
) -> Template:
    """A page in the request's language with everything the base layout needs.

    ``anonymous`` renders as if nobody were signed in: for pages a service worker keeps.
    """
    runtime = runtime_of(request)
    settings = runtime.settings
    state = page_state(request)
    catalog = translations(state.lang)

    def tr(message: str, params: dict[str, Any] | None = None) -> str:
        return translate(state.lang, message, params)

    def lang_url(code: str) -> str:
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        query["lang"] = code
        return f"{same_site_path(request.url.path)}?{urlencode(query)}"

    context.update(
        _=catalog.gettext,
        gettext=catalog.gettext,
        ngettext=catalog.ngettext,
        tr=tr,
        lang=state.lang,
        dir=direction(state.lang),
        csrf_field=csrf.FIELD_NAME,
        csrf_token=form_token(request),
        tenant_name=settings.tenant.name,
        languages=[(code, NATIVE_NAMES[code]) for code in settings.tenant.languages],
        lang_url=lang_url,
        customer=state.session.customer if state.session and not anonymous else None,
    )
    context.setdefault("unread", 0)
    return Template(template_name=template, context=context, status_code=status)


def render_error(
    request: AnyRequest, error: PortalError, template: str = "error.html", **context: Any
) -> Template:
    return render(request, template, status=error.status_code, error=error, **context)


class CookieWriter(ResponseHeadersMiddleware):
    """Adds the cookies queued during the request to the response's headers."""

    def edit(self, scope: Scope, headers: MutableScopeHeaders) -> None:
        page = scope.get("state", {}).get("page")
        if isinstance(page, PageState):
            for cookie in page.cookies:
                headers.add("set-cookie", cookie.to_header(header=""))
