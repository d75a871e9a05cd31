"""The operator's two kinds of trouble, as kopf understands them.

Messages end up in the Portal's status and in events: they name objects and reasons, never
secret values.
"""

from __future__ import annotations

import kopf


class Waiting(kopf.TemporaryError):
    """Something will settle by itself (a rollout, a Job, a namespace): look again soon."""

    def __init__(self, reason: str, message: str, delay: float = 5.0) -> None:
        super().__init__(message, delay=delay)
        self.reason = reason
        self.message = message


class NeedsHuman(kopf.PermanentError):
    """Only a person can fix this (bad credentials, a missing Secret): report it as Stalled."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
