"""User-supplied file names are display metadata only: made harmless, never used as paths.

What we keep: every script, combining marks, emoji (including ZWJ sequences) and the
zero-width (non-)joiner that Persian spelling needs. What we drop: directories, control
characters (C0, C1, DEL), line and paragraph separators, and invisible format characters —
above all the bidi controls (U+202A to U+202E, U+2066 to U+2069, LRM/RLM/ALM), with which
U+202E followed by ``gnp.exe`` would be shown as ``exe.png``.

Names are normalised to NFC: macOS and iOS send decomposed names (NFD), Windows and Android
composed ones. Both look the same, but only one form lets the same name compare, sort,
search and count (the 255-character column) the same way wherever it came from; NFC is the
form the web and the ZIP/xdomea exports expect.

The extension of a stored name always follows the type the content was proven to be
(:mod:`dokportal.files.sniffing`): ``Lohnabrechnung.hta`` carrying JPEG bytes is stored and
handed out as ``Lohnabrechnung.hta.jpg``, so no caseworker's desktop opens it with the
program the misleading extension names (HTML application, SVG, HTML, ...).
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePath

MAX_NAME = 255
"""Characters, as the ``display_name`` column holds: every name a file system allows fits."""

_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ (Persian), ZWJ (emoji sequences)
_DROPPED = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})


def _shown(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cf":
        return char in _KEPT_FORMAT
    return category not in _DROPPED


# The extension appended when a name does not already carry one that fits its content.
CANONICAL_EXTENSION = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
FITTING_EXTENSIONS = {
    "application/pdf": frozenset({".pdf"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jfif"}),
    "image/png": frozenset({".png"}),
}


def display_name(raw: str, fallback: str = "document") -> str:
    """Strip directories and invisible characters, normalise, and keep it within the column."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", "".join(ch for ch in name if _shown(ch)))
    name = name.strip(" .")
    if not name:
        return fallback
    return _shorten(name)


def _shorten(name: str) -> str:
    if len(name) > MAX_NAME:
        suffix = PurePath(name).suffix[:16]
        name = name[: MAX_NAME - len(suffix)] + suffix
    return name


def with_type_extension(name: str, content_type: str) -> str:
    """``name`` ending in an extension that fits ``content_type`` (appended when it does not).

    Used when a file is stored and again whenever a stored name leaves the portal (download,
    ZIP bundle, xdomea, API), so rows stored before this rule get it too.
    """
    extension = CANONICAL_EXTENSION.get(content_type)
    if extension is None:
        return name
    if PurePath(name).suffix.lower() in FITTING_EXTENSIONS[content_type]:
        return name
    stem = name[: MAX_NAME - len(extension)]
    return stem + extension
