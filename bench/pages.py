"""Benchmark 4 of issue 6: pages under load.

200 simulated customers, each: sign in, open the start page, the inbox with 50 notices and
the list with 50 submissions, the upload form, upload 1 MB, sign out. An asyncio client
(httpx, one connection pool per customer) against the server `make run` runs, on SQLite and
on PostgreSQL. Reports p50/p95/p99 per kind of request, the error count and the rate.

Two scenarios on the same seeded server:

- ``customers`` (the target's scenario): people, not robots. They arrive over
  :data:`RAMP_SECONDS` (all 200 are on the portal at the same time at the peak) and read each
  page for 1 to 3 s before the next click, like locust's ``between(1, 3)``; seeded, so every
  run clicks at the same moments.
- ``stampede`` (capacity): all 200 at the same instant with no pause at all. Latency here is
  mostly queueing, so its figure to read is the rate the server sustains.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.harness import cpu_seconds, stat
from bench.processes import PASSWORD, portal
from dokportal import db
from dokportal.accounts.passwords import hash_password
from dokportal.accounts.tables import Customer
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files.tables import StoredFile
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from tests.support.documents import padded_pdf
from tests.support.postgres import running_postgres

CSRF = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
CUSTOMERS = 200
RAMP_SECONDS = 20.0
THINK_SECONDS = (1.0, 3.0)
PER_LIST = 50
UPLOAD = padded_pdf(1000 * 1000, fill=b"\0")  # a real PDF: uploads are parsed before kept


def number(n: int) -> str:
    return f"800L{n:06d}"


async def seed(database_url: str, customers: int) -> None:
    """Customers with 50 notices and 50 submissions each, written straight to the tables.

    The lists only read rows, so the stored-file rows point at blob ids that do not exist.
    """
    db.configure(Settings(database_url=database_url))
    password_hash = hash_password(PASSWORD)
    now = datetime.now(UTC)
    await Customer.insert(
        *[
            Customer(
                customer_number=number(n),
                display_name=f"Kunde {n}",
                password_hash=password_hash,
                activated_at=now,
            )
            for n in range(customers)
        ]
    )
    rows = await Customer.select(Customer.id, Customer.customer_number)
    for row in rows:
        files = [
            StoredFile(
                blob_id=f"seed{row['id']:06d}{k:04d}",
                key_id="seed",
                wrapped_key="seed",
                size=1000,
                sha256="0" * 64,
                content_type="application/pdf",
                display_name="seed.pdf",
            )
            for k in range(2 * PER_LIST)
        ]
        await StoredFile.insert(*files)
        ids = [
            f["id"]
            for f in await StoredFile.select(StoredFile.id)
            .where(StoredFile.blob_id.like(f"seed{row['id']:06d}%"))
            .order_by(StoredFile.id)
        ]
        await Notice.insert(
            *[
                Notice(customer=row["id"], title=f"Bescheid {k}", stored_file=ids[k])
                for k in range(PER_LIST)
            ]
        )
        await Submission.insert(
            *[
                Submission(
                    reference=f"SEED-{row['id']}-{k}",  # never clashes with BG-YYYY-NNNNNN
                    customer=row["id"],
                    category="other",
                )
                for k in range(PER_LIST)
            ]
        )
        submissions = await Submission.select(Submission.id).where(Submission.customer == row["id"])
        await SubmissionFile.insert(
            *[
                SubmissionFile(submission=s["id"], stored_file=ids[PER_LIST + k], position=0)
                for k, s in enumerate(submissions)
            ]
        )


class Pacing:
    """When a customer arrives and how long they look at each page (none in a stampede)."""

    def __init__(self, *, customers: int, stampede: bool, seed: int = 6) -> None:
        self.stampede = stampede
        self.customers = customers
        self._random = random.Random(seed)  # noqa: S311 - pacing, not secrets

    def arrival(self, n: int) -> float:
        return 0.0 if self.stampede else n * RAMP_SECONDS / self.customers

    async def think(self) -> None:
        if not self.stampede:
            await asyncio.sleep(self._random.uniform(*THINK_SECONDS))


async def customer(
    url: str, n: int, pacing: Pacing, timings: dict[str, list[float]], errors: list[str]
) -> None:
    await asyncio.sleep(pacing.arrival(n))
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def call(
            kind: str, method: str, path: str, expect: int, **kwargs: object
        ) -> httpx.Response | None:
            start = time.perf_counter()
            try:
                response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.HTTPError as error:
                errors.append(f"{kind}: {type(error).__name__}")
                return None
            timings[kind].append(time.perf_counter() - start)
            if response.status_code != expect:
                errors.append(f"{kind}: HTTP {response.status_code}")
            return response

        page = await call("page", "GET", "/signin", 200)
        token = CSRF.search(page.text).group(1) if page is not None else ""  # type: ignore[union-attr]
        await pacing.think()
        await call(
            "signin",
            "POST",
            "/signin",
            303,
            data={"_csrf": token, "customer_number": number(n), "password": PASSWORD},
        )
        for path in ("/", "/notices/", "/documents", "/documents/new"):
            shown = await call("page", "GET", path, 200)
            await pacing.think()
        # Signing in replaced the form token (it is bound to the session): take the new one.
        found = CSRF.search(shown.text) if shown is not None else None
        token = found.group(1) if found else ""
        await call(
            "upload",
            "POST",
            "/documents",
            303,
            data={"_csrf": token, "category": "other"},
            files=[("files", ("scan.pdf", UPLOAD, "application/pdf"))],
        )
        await pacing.think()
        await call("signout", "POST", "/signout", 303, data={"_csrf": token})


async def load(url: str, customers: int, *, stampede: bool) -> dict[str, object]:
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    pacing = Pacing(customers=customers, stampede=stampede)
    start = time.perf_counter()
    await asyncio.gather(*(customer(url, n, pacing, timings, errors) for n in range(customers)))
    wall = time.perf_counter() - start
    requests = sum(len(values) for values in timings.values())
    summary: dict[str, object] = {
        "wall_seconds": wall,
        "requests": requests,
        "requests_per_second": requests / wall,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }
    for kind, values in timings.items():
        ordered = sorted(values)
        summary[kind] = {
            "n": len(ordered),
            "p50_ms": 1000 * stat(ordered).median,
            "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
            "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        }
    return summary


def run(database: str, customers: int = CUSTOMERS) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dokportal-pages-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        if database == "postgresql":
            url = stack.enter_context(running_postgres())
        else:
            url = f"sqlite:///{work / 'portal.sqlite3'}"
        server = stack.enter_context(portal(work / "server", database_url=url))
        asyncio.run(seed(url, customers))
        results: dict[str, object] = {}
        for scenario in ("customers", "stampede"):
            before = cpu_seconds(server.process.pid)
            result = asyncio.run(load(server.url, customers, stampede=scenario == "stampede"))
            result["server_cpu_seconds"] = cpu_seconds(server.process.pid) - before
            results[scenario] = result
        if any(isinstance(r, dict) and r["errors"] for r in results.values()):
            errors = [
                line
                for line in (work / "server" / "server.log").read_text().splitlines()
                if "Error" in line or "error" in line
            ]
            print("server errors:", *errors[-20:], sep="\n  ", file=sys.stderr)
        return results


def main(customers: int = CUSTOMERS) -> dict[str, object]:
    return {database: run(database, customers) for database in ("sqlite", "postgresql")}
