"""What the export API returns (explicit schemas, never tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class FileInfo:
    position: int
    name: str
    content_type: str
    size: int
    sha256: str
    # Virus scan: clean, unscanned (no scanner configured), pending (ask again later),
    # infected (quarantined, never served) or error (could not be checked, never served).
    scan: str
    url: str
    # Active content found in a PDF (javascript, launch, embedded-files, xfa, ...): the file is
    # the original as received; open it with care. Empty for harmless files.
    active_content: list[str] = field(default_factory=list)


@dataclass
class SubmissionSummary:
    reference: str
    status: str
    category: str
    created_at: datetime
    customer_number: str
    url: str


@dataclass
class SubmissionPage:
    items: list[SubmissionSummary]
    next_cursor: int


@dataclass
class SubmissionDetail:
    reference: str
    status: str
    category: str
    message: str
    created_at: datetime
    customer_number: str
    customer_name: str
    files: list[FileInfo]


@dataclass
class Acknowledged:
    reference: str
    status: str
    changed: bool
