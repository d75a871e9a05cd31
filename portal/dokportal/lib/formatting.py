"""Numbers, sizes and times in the reader's language (Babel's CLDR data)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal


def file_size(size: int, lang: str) -> str:
    """A short human size, e.g. ``1,2 MB`` in German and ``1.2 MB`` in English."""
    units = ("B", "KB", "MB", "GB")
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    number = format_decimal(round(value, 1) if unit else int(value), locale=lang)
    return f"{number} {units[unit]}"


def local_time(moment: datetime, lang: str, timezone: str) -> str:
    return format_datetime(moment.astimezone(ZoneInfo(timezone)), "medium", locale=lang)


def limit_words(size_bytes: int, lang: str = "en") -> str:
    return file_size(size_bytes, lang)


def clock_time(moment: datetime, timezone: str) -> str:
    """``14:35`` in the office's time zone: when to try again, without plural forms."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
