"""Helpers that drive the portal's services the way the CLI does."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dokportal.audit import Actor
from dokportal.crypto import Keyring
from dokportal.files import FileIngest, scanning
from dokportal.notices.services import PDF_ONLY, send_notice
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.storage.factory import build_store


async def send_notice_to(settings: Settings, number: str, title: str, content: bytes) -> Notice:
    store = build_store(settings.storage)
    keyring = Keyring.load(settings.keyring_path)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    ingest = FileIngest(
        store=store,
        keyring=keyring,
        tenant=settings.tenant.slug,
        filename="bescheid.pdf",
        max_bytes=settings.upload.max_file_bytes,
        max_words="20 MB",
        allowed=PDF_ONLY,
    )
    return await send_notice(
        customer_number=number,
        title=title,
        filename="bescheid.pdf",
        chunks=chunks(),
        ingest=ingest,
        store=store,
        scan=lambda ingested: scanning.scan_before_recording(
            settings,
            store,
            keyring,
            ingested,
            actor=Actor(kind="cli", id="tests"),
            subject=("customer", number),
        ),
    )
