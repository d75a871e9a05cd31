"""Argon2 runs in its own low-priority threads, so a burst of sign-ins leaves CPU to pages."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

from dokportal.accounts import passwords


def own_priority() -> tuple[str, int]:
    return threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()
    )


async def test_hashing_threads_run_at_nice_10_and_the_event_loop_does_not() -> None:
    # Linux only (the portal's platform; per-thread priority is a Linux feature): the test
    # fails elsewhere rather than skip, so a CI on another system notices.
    assert sys.platform == "linux"
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    name, priority = await asyncio.get_running_loop().run_in_executor(
        passwords._EXECUTOR, own_priority
    )
    assert name.startswith("argon2")
    assert priority >= min(loop_priority + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority


async def test_hash_and_verify_through_the_threads() -> None:
    stored = await passwords.hash_password_async("Sonnenblume-2026")
    assert await passwords.verify_password_async(stored, "Sonnenblume-2026")
    assert not await passwords.verify_password_async(stored, "Sonnenblume-2027")
    assert not await passwords.verify_password_async("", "Sonnenblume-2026")  # unknown account
