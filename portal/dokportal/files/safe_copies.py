"""Safe copies of PDFs with active content: pages rendered to pictures, stored encrypted.

A PDF with JavaScript, launch actions, embedded files or XFA is accepted (a jobcenter must
not lose a customer's letter because some program added a script to it) but flagged at
upload (files/pdf_check.py) with ``safe_copy_state = "pending"``. The periodic worker
(tasks.py) renders it here, in a separate, resource-limited process without network
(files/render_child.py), and stores the result through the same ingest pipeline as any
upload; the original row then points at it (``safe_copy``) and is ``"ready"``. Staff open
the safe copy by default and the original only after a warning (workspace/controllers.py).

Why in the worker and not in the upload request: rendering a long PDF takes seconds, the
upload answers at once, and nothing can be lost: the original is stored before the copy is
tried, a crash leaves the row "pending" for the next round, and a PDF that cannot be
rendered becomes "failed" (staff see the warning and the original only).
Several replicas may render the same file at the same time; the conditional update lets
exactly one copy win, the others' blobs and rows are removed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import subprocess
import sys

import anyio.to_thread

from dokportal.audit import record
from dokportal.audit.services import SYSTEM
from dokportal.crypto.keyring import Keyring
from dokportal.files.ingest import FileIngest
from dokportal.files.reading import opened_lazily
from dokportal.files.tables import StoredFile
from dokportal.storage import BlobStore

log = logging.getLogger("dokportal.files.safe_copies")

TIMEOUT_SECONDS = 180.0
MAX_OUTPUT = 512 * 1024 * 1024
"""The rendered copy may be larger than the original (pictures instead of text)."""
PER_ROUND = 4
PDF_ONLY = frozenset({"application/pdf"})


class RenderFailed(Exception):
    """The PDF could not be rendered within the limits."""


@functools.cache
def network_isolation() -> tuple[str, ...]:
    """The command prefix that runs the child in a network namespace without interfaces.

    ``unshare --net`` needs CAP_SYS_ADMIN; without it an unprivileged user namespace
    (``--map-root-user``) does the same where the kernel allows it. Where neither works
    (some container runtimes forbid namespaces) the child runs without; PDFium has no
    network code of its own, so this is defence in depth, logged once.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        log.warning("unshare not found: PDF safe copies are rendered without network isolation")
        return ()
    for prefix in ((unshare, "--net", "--"), (unshare, "--map-root-user", "--net", "--")):
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    log.warning("network namespaces unavailable: PDF safe copies are rendered without them")
    return ()


async def render(pdf: bytes, *, seconds: float = TIMEOUT_SECONDS) -> bytes:
    """The picture-only PDF the child makes of ``pdf``; :class:`RenderFailed` otherwise."""
    isolation = await anyio.to_thread.run_sync(network_isolation)  # probed once, off the loop
    command = [*isolation, sys.executable, "-m", "dokportal.files.render_child"]
    child = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": _python_path()},
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(child.communicate(pdf), seconds)
    except TimeoutError as error:
        child.kill()
        await child.wait()
        raise RenderFailed("rendering took too long") from error
    if child.returncode != 0:
        raise RenderFailed(f"the renderer ended with {child.returncode}")
    if not output or len(output) > MAX_OUTPUT:
        raise RenderFailed("the renderer gave no usable output")
    return output


def _python_path() -> str:
    """The child imports dokportal from wherever this process did."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])


async def make_pending(store: BlobStore, keyring: Keyring, tenant: str) -> int:
    """Render the safe copies still missing, a few per round; the number made."""
    rows: list[StoredFile] = (
        await StoredFile.objects()
        # Only what the virus scan passed (or what no scanner checks): a quarantined or
        # still-pending original is never decrypted for rendering.
        .where(
            (StoredFile.safe_copy_state == "pending")
            & StoredFile.scan_state.is_in(["clean", "unscanned"])
        )
        .order_by(StoredFile.id)
        .limit(PER_ROUND)
    )
    made = 0
    for row in rows:
        if await make_one(store, keyring, tenant, row):
            made += 1
    return made


async def make_one(store: BlobStore, keyring: Keyring, tenant: str, row: StoredFile) -> bool:
    original = b"".join([chunk async for chunk in opened_lazily(store, keyring, tenant, row)])
    try:
        rendered = await render(original)
    except RenderFailed as error:
        log.warning("safe copy of stored file %s failed: %s", row.id, error)
        await StoredFile.update({StoredFile.safe_copy_state: "failed"}).where(
            (StoredFile.id == row.id) & (StoredFile.safe_copy_state == "pending")
        )
        await record(SYSTEM, "file.safe_copy_failed", "stored_file", row.id)
        return False
    ingest = FileIngest(
        store=store,
        keyring=keyring,
        tenant=tenant,
        filename=row.display_name,
        max_bytes=MAX_OUTPUT,
        max_words="512 MB",
        allowed=PDF_ONLY,
    )
    try:
        for start in range(0, len(rendered), 1024 * 1024):
            await ingest.feed(rendered[start : start + 1024 * 1024])
        ingested = await ingest.finish()
    except BaseException:
        await ingest.abort()
        raise
    copy = ingested.as_row()
    try:
        async with StoredFile._meta.db.transaction():
            await copy.save()
            claimed = (
                await StoredFile.update(
                    {StoredFile.safe_copy: copy.id, StoredFile.safe_copy_state: "ready"}
                )
                .where((StoredFile.id == row.id) & (StoredFile.safe_copy_state == "pending"))
                .returning(StoredFile.id)
            )
            if not claimed:
                raise _Lost()
    except BaseException as error:
        await store.delete(copy.blob_id)  # the row went with the rolled-back transaction
        if isinstance(error, _Lost):
            return False  # another replica was first
        raise
    await record(SYSTEM, "file.safe_copy_made", "stored_file", row.id)
    return True


class _Lost(Exception):
    """Another worker stored its copy first."""


async def for_staff(files: list[StoredFile]) -> list[StoredFile]:
    """What staff get in bundles: each flagged PDF's safe copy under the original's name.

    A flagged file without a ready copy is left out (the submission page lists it with its
    warning); a harmless file is itself.
    """
    wanted = [row.safe_copy for row in files if row.active_content and row.safe_copy]
    copies: dict[int, StoredFile] = {
        copy.id: copy
        for copy in (
            await StoredFile.objects().where(StoredFile.id.is_in(wanted)) if wanted else []
        )
    }
    result: list[StoredFile] = []
    for row in files:
        if not row.active_content:
            result.append(row)
        elif row.safe_copy_state == "ready" and row.safe_copy in copies:
            copy = copies[row.safe_copy]
            copy.display_name = row.display_name
            result.append(copy)
    return result


async def safe_copy_of(row: StoredFile) -> StoredFile | None:
    """The ready safe copy of a flagged file (under the original's name), else None."""
    if row.safe_copy_state != "ready" or row.safe_copy is None:
        return None
    copy = await StoredFile.objects().where(StoredFile.id == row.safe_copy).first()
    if copy is not None:
        copy.display_name = row.display_name
    return copy
