"""A missing service is a skip on a developer's machine and a failure in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, why: str) -> NoReturn:
    message = f"{what} is not available: {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
