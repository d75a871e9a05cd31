"""User-supplied file names are display metadata only: made harmless, never used as paths.

The extension of a stored name always follows the type the content was proven to be
(:mod:`dokportal.files.sniffing`): ``Lohnabrechnung.hta`` carrying JPEG bytes is stored and
handed out as ``Lohnabrechnung.hta.jpg``, so no caseworker's desktop opens it with the
program the misleading extension names (HTML application, SVG, HTML, ...).
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePath

MAX_NAME = 200

# The extension appended when a name does not already carry one that fits its content.
CANONICAL_EXTENSION = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
FITTING_EXTENSIONS = {
    "application/pdf": frozenset({".pdf"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jfif"}),
    "image/png": frozenset({".png"}),
}


def display_name(raw: str, fallback: str = "document") -> str:
    """Strip directories and control characters, normalise, and keep it short."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
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
