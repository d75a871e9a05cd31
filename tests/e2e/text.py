"""What the user should read, in their language: the portal's own catalogs."""

from __future__ import annotations

from typing import Any

from dokportal.lib.web import translate


def t(lang: str, message: str, **params: Any) -> str:
    return translate(lang, message, params or None)
