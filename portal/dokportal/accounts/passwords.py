"""Password hashing (argon2id) and the password rules shown to customers up front."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dokportal.i18n import N_

# argon2id with OWASP's recommended parameters (19 MiB, t=2, p=1). RFC 9106's 64 MiB
# profile (argon2-cffi's default) made 200 simultaneous sign-ins need gigabytes and
# seconds on a 2-core pod; these keep guessing expensive and a pod's memory bounded.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _lower_priority() -> None:
    """Run this hashing thread at nice 10, so it gets only the CPU page views leave over.

    A burst of sign-ins (everyone at 8 o'clock) otherwise took the cores from the event loop
    and made every page of everyone else wait seconds (issue 6). The scheduler still gives
    a nice-10 thread all idle CPU, so sign-ins are not slower on a quiet pod. Linux only:
    there a thread's id is a valid ``setpriority`` target; elsewhere it would name a process.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError):  # not allowed here: fine, only less fair under load
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _hashing_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(4, cores or 2))


# At most one hash per core (2 to 4) at once per process: memory stays at most 4 x 19 MiB,
# and a burst of sign-ins queues here instead of piling up threads.
_EXECUTOR = ThreadPoolExecutor(
    max_workers=_hashing_threads(),
    thread_name_prefix="argon2",
    initializer=_lower_priority,
)

# A valid hash to verify against when the account does not exist, so timing does not
# tell an attacker which customer numbers are real.
_DUMMY_HASH = _hasher.hash("dokportal-timing-equaliser")


async def hash_password_async(password: str) -> str:
    """Hash in a low-priority thread: argon2 costs ~30 ms of CPU and 19 MiB by design, and
    must not stall every other request on the event loop meanwhile (argon2-cffi drops the
    GIL)."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, hash_password, password)


async def verify_password_async(stored_hash: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _EXECUTOR, verify_password, stored_hash, password
    )


def needs_rehash(stored_hash: str) -> bool:
    """True for hashes made with other parameters; re-hashed at the next sign-in."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(
    password: str, repeat: str, min_length: int, customer_number: str
) -> list[str]:
    """Untranslated msgids for every rule the password breaks (empty when it is fine)."""
    problems: list[str] = []
    if password != repeat:
        problems.append(N_("The two passwords are not the same."))
    if len(password) < min_length:
        problems.append(N_("The password must have at least %(min)s characters."))
    if len(password) > 256:
        problems.append(N_("The password must not be longer than 256 characters."))
    if customer_number and customer_number.lower() in password.lower():
        problems.append(N_("The password must not contain your customer number."))
    if len(set(password)) < 4:
        problems.append(N_("The password must not repeat the same few characters."))
    return problems
