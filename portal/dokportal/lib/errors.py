"""The one error tree of the portal.

Services raise these; a single mapper in :mod:`dokportal.lib.error_pages` turns them into
pages with the right status code. ``message`` is an untranslated msgid with ``%(name)s``
placeholders, translated at render time in the user's language.
"""

from __future__ import annotations

from typing import Any, Self


class PortalError(Exception):
    """A failure the user should be told about in words, never a 500."""

    status_code = 400
    # The form field the message is about, so the page can mark and link it (WCAG 3.3.1).
    field: str | None = None

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    def at(self, field: str) -> Self:
        """Name the form field this error is about; returns the error for ``raise``."""
        self.field = field
        return self


class BadRequest(PortalError):
    status_code = 400


class Forbidden(PortalError):
    status_code = 403


class NotFound(PortalError):
    status_code = 404


class TooLarge(PortalError):
    status_code = 413


class UnsupportedType(PortalError):
    status_code = 415


class TooManyAttempts(PortalError):
    status_code = 429


class ServiceUnavailable(PortalError):
    status_code = 503


class KeyUnavailable(ServiceUnavailable):
    """A stored secret's keyring key is missing: an operator's problem, nothing is lost."""


class Unavailable(ServiceUnavailable):
    """The database or the blob store cannot be reached right now (an outage, not a bug)."""


class SignInRequired(Exception):
    """Raised by the customer guard; mapped to a redirect to the sign-in page."""
