"""What the content checks report to the ingest pipeline; it turns these into user messages."""

from __future__ import annotations


class Unreadable(Exception):
    """The file is truncated, damaged or not the format its first bytes announce."""


class TooManyPixels(Exception):
    """The image header announces more pixels than the configured limit."""
