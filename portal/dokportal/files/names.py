"""User-supplied file names are display metadata only: made harmless, never used as paths."""

from __future__ import annotations

import unicodedata
from pathlib import PurePath

MAX_NAME = 200


def display_name(raw: str, fallback: str = "document") -> str:
    """Strip directories and control characters, normalise, and keep it short."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if not name:
        return fallback
    if len(name) > MAX_NAME:
        suffix = PurePath(name).suffix[:16]
        name = name[: MAX_NAME - len(suffix)] + suffix
    return name
