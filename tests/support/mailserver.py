"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for reading."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.appliance import free_port


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    # While > 0, each incoming mail is refused with a temporary error (and counted down).
    refuse: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 try again later"
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
        return "250 OK"


@contextmanager
def running_mailbox() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(host="127.0.0.1", port=port)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers
    try:
        yield box
    finally:
        controller.stop()
