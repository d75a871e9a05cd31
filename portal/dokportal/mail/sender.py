"""Handing one message to the mail system: SMTP (aiosmtplib) or a folder of .eml files."""

from __future__ import annotations

import os
import secrets
from email.message import EmailMessage

import aiosmtplib

from dokportal.settings import MailSettings


class MailNotSent(Exception):
    """The message was not accepted; the outbox retries it later."""


async def send(settings: MailSettings, message: EmailMessage) -> None:
    if settings.kind == "off":
        raise MailNotSent("mail is switched off")
    if settings.kind == "folder":
        _write_file(settings, message)
        return
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password.get_secret_value() or None,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        # The class name only: server replies may echo addresses.
        raise MailNotSent(type(error).__name__) from error


def _write_file(settings: MailSettings, message: EmailMessage) -> None:
    """The demo's mailbox: one file per message, written atomically."""
    settings.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{secrets.token_hex(8)}.eml"
    partial = settings.folder / f".{name}.part"
    with partial.open("wb") as handle:
        handle.write(bytes(message))
        handle.flush()
        os.fsync(handle.fileno())
    partial.rename(settings.folder / name)
