"""The one mapper from exceptions to responses: readable pages, never a stack trace.

Outages (database or blob store unreachable, see :mod:`dokportal.lib.outages`) answer 503
"temporarily unavailable" with ``Retry-After`` and one log line per request; only real bugs
answer 500 with a traceback in the log.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect

from dokportal import metrics
from dokportal.crypto.errors import CryptoError
from dokportal.lib.errors import (
    NotFound,
    PortalError,
    SignInRequired,
    Unavailable,
)
from dokportal.lib.outages import RETRY_AFTER_SECONDS, describe, outage_of
from dokportal.lib.web import render_error
from dokportal.storage.errors import BlobNotFound, StorageUnavailable

log = logging.getLogger("dokportal.errors")
AnyRequest = Request[Any, Any, Any]


def _route(request: AnyRequest) -> str:
    """For log lines: the route template, never the raw path (it can hold customer numbers)."""
    return metrics.route_of(request.scope)


def sign_in_required(request: AnyRequest, _: SignInRequired) -> Response[Any]:
    target = request.url.path
    return Redirect(path=f"/signin?next={quote(target)}", status_code=303)


def _page(request: AnyRequest, error: PortalError) -> Response[Any]:
    response = _render(request, error)
    if error.status_code == 503:
        response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return response


def _render(request: AnyRequest, error: PortalError) -> Response[Any]:
    if request.url.path.startswith("/api/"):
        # The export API answers machines: JSON in English, same status codes.
        return Response(
            content={"error": error.message % error.params if error.params else error.message},
            status_code=error.status_code,
        )
    # Staff pages keep the workspace layout for their errors.
    staff = request.url.path.startswith("/staff")
    template = render_error(request, error, "staff/error.html" if staff else "error.html")
    return template  # Template is a Response subclass


def _unavailable(request: AnyRequest, cause: BaseException) -> Response[Any]:
    """The outage page; one line in the log, no traceback (it says nothing new per request)."""
    log.error("unavailable: %s %s: %s", request.method, _route(request), describe(cause))
    dependency = "storage" if isinstance(cause, StorageUnavailable) else "database"
    metrics.DEPENDENCY_ERRORS.labels(dependency).inc()
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        error = Unavailable(
            "The portal is temporarily unavailable. Nothing was lost, but what you just sent "
            "was not saved. Please send it again in a few minutes."
        )
    else:
        error = Unavailable(
            "The portal is temporarily unavailable. Nothing was lost. "
            "Please try again in a few minutes."
        )
    return _page(request, error)


def handle_portal_error(request: AnyRequest, error: PortalError) -> Response[Any]:
    return _page(request, error)


def handle_http_error(request: AnyRequest, error: HTTPException) -> Response[Any]:
    if isinstance(error, NotFoundException) or error.status_code == 404:
        return _page(request, NotFound("This page was not found."))
    if error.status_code == 413:
        from dokportal.lib.errors import TooLarge

        return _page(request, TooLarge("The request is too large."))
    if error.status_code == 405:
        mapped = PortalError("This page cannot be used this way.")
        mapped.status_code = 405
        return _page(request, mapped)
    if error.status_code >= 500:
        log.error("server error %s on %s", error.status_code, _route(request))
        return _server_error(request)
    mapped = PortalError("The request could not be processed. Please go back and try again.")
    mapped.status_code = error.status_code
    return _page(request, mapped)


def handle_storage_down(request: AnyRequest, error: StorageUnavailable) -> Response[Any]:
    return _unavailable(request, error)


def handle_missing_blob(request: AnyRequest, error: BlobNotFound) -> Response[Any]:
    log.error("blob referenced by the database is missing on %s", _route(request))
    return _server_error(request)


def handle_crypto_error(request: AnyRequest, error: CryptoError) -> Response[Any]:
    log.error("integrity check failed on %s: %s", _route(request), type(error).__name__)
    return _server_error(request)


def handle_unexpected(request: AnyRequest, error: Exception) -> Response[Any]:
    cause = outage_of(error)
    if cause is not None:
        return _unavailable(request, cause)
    log.exception("unexpected error on %s", _route(request))
    return _server_error(request)


def _server_error(request: AnyRequest) -> Response[Any]:
    error = PortalError("Something went wrong on our side. Please try again later.")
    error.status_code = 500
    return _page(request, error)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInRequired: sign_in_required,
    PortalError: handle_portal_error,
    HTTPException: handle_http_error,
    StorageUnavailable: handle_storage_down,
    BlobNotFound: handle_missing_blob,
    CryptoError: handle_crypto_error,
    Exception: handle_unexpected,
}
