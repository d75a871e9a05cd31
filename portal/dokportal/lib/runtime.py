"""What a running portal process holds: settings, keyring, blob store, CSRF secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from dokportal.crypto.keyring import Keyring
from dokportal.settings import Settings
from dokportal.storage import BlobStore


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    keyring: Keyring
    store: BlobStore
    csrf_secret: str


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
