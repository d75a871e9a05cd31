"""Which language a page is shown in.

Order (design.md): the user's explicit pick (a ``lang`` query parameter), then the
``lang`` cookie it sets, then Accept-Language, then the tenant's default. Only languages the
tenant enabled are ever chosen.
"""

from __future__ import annotations

from dokportal.settings import RTL_LANGUAGES

COOKIE = "lang"

# Native names for the switcher, so a user finds their language without reading German.
NATIVE_NAMES: dict[str, str] = {
    "de": "Deutsch",
    "en": "English",
    "uk": "Українська",
    "ar": "العربية",
    "tr": "Türkçe",
    "ru": "Русский",
    "fa": "فارسی",
}


def parse_accept_language(header: str) -> list[str]:
    """Primary language subtags from an Accept-Language header, best first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary and primary != "*" and quality > 0:
            weighted.append((-quality, index, primary))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(
    enabled: list[str],
    default: str,
    *,
    explicit: str | None = None,
    cookie: str | None = None,
    accept_language: str | None = None,
) -> str:
    for candidate in (explicit, cookie):
        if candidate in enabled:
            return candidate
    for candidate in parse_accept_language(accept_language or ""):
        if candidate in enabled:
            return candidate
    return default


def direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"
