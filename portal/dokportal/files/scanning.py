"""Virus scanning of stored files with clamd, and the rule that closes unscanned ones.

Customer uploads are acknowledged first and scanned right after (a background task of the
upload request, then the periodic worker for whatever is still pending): the customer's
files are never lost because clamd is down. Until a file is ``clean`` nobody can open it;
an ``infected`` one is quarantined: kept encrypted for the record, flagged, never served.

A staff notice is scanned *before* it is recorded, while the caseworker waits: a notice
starts the customer's deemed-delivery clock, so it must never sit in the customer's inbox
unopenable, and the caseworker still has the file to send again if clamd is down.

The file is decrypted by the ordinary reading side (:func:`opened_lazily`) and streamed
chunk by chunk to clamd; no plaintext touches the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from piccolo.query.functions.aggregate import Count

from dokportal.audit import Actor, record
from dokportal.audit.services import SYSTEM
from dokportal.crypto.errors import CryptoError
from dokportal.crypto.keyring import Keyring
from dokportal.files.clamd import Clamd, ClamdAddress, ClamdUnavailable, ScanError, Verdict
from dokportal.files.ingest import Ingested
from dokportal.files.reading import opened_lazily
from dokportal.files.tables import StoredFile
from dokportal.i18n import N_
from dokportal.lib.errors import Forbidden, PortalError, ServiceUnavailable, UnsupportedType
from dokportal.settings import ScanSettings, Settings
from dokportal.storage import BlobStore
from dokportal.storage.errors import StorageError

log = logging.getLogger("dokportal.scanning")

UNSCANNED = "unscanned"
PENDING = "pending"
CLEAN = "clean"
INFECTED = "infected"
ERROR = "error"

SERVABLE = frozenset({UNSCANNED, CLEAN})
"""States whose file may be opened: scanned clean, or stored while no scanner was set."""

MAX_BACKOFF_SECONDS = 3600
"""Longest wait before a file that clamd refused (ERROR) is tried again."""

MAX_OUTAGE_BACKOFF_SECONDS = 300
"""Longest wait while clamd is unreachable: once it is back, files are scanned within about
five minutes (plus the worker's interval), however long the outage was."""
BATCH = 50


class FileBeingChecked(PortalError):
    """409: the file exists but has not been scanned yet; ask again in a few minutes."""

    status_code = 409


def initial_state(scan: ScanSettings) -> str:
    """The state a new row starts in: ``pending`` with a scanner, else ``unscanned``."""
    return PENDING if scan.enabled else UNSCANNED


def ensure_servable(row: StoredFile) -> None:
    """Raise unless the file may be handed out; call before any byte is streamed."""
    if row.scan_state in SERVABLE:
        return
    if row.scan_state == PENDING:
        raise FileBeingChecked(
            N_(
                "The file %(name)s is still being checked for viruses. "
                "Please try again in a few minutes."
            ),
            name=row.display_name,
        )
    if row.scan_state == INFECTED:
        raise Forbidden(
            "The file %(name)s contains a virus and is quarantined. It cannot be opened.",
            name=row.display_name,
        )
    raise Forbidden(
        "The file %(name)s could not be checked for viruses and cannot be opened.",
        name=row.display_name,
    )


def split_servable(rows: Iterable[StoredFile]) -> tuple[list[StoredFile], list[StoredFile]]:
    """For bundles: (files to include, files left out because quarantined or unscannable).

    A file still being checked makes the whole bundle wait (:class:`FileBeingChecked`): a
    ZIP or hand-over that silently lacks a file that will be fine in a minute helps nobody.
    """
    included: list[StoredFile] = []
    left_out: list[StoredFile] = []
    for row in rows:
        if row.scan_state == PENDING:
            ensure_servable(row)
        (included if row.scan_state in SERVABLE else left_out).append(row)
    return included, left_out


def clamd_of(scan: ScanSettings) -> Clamd:
    return Clamd(
        ClamdAddress.parse(scan.clamd),
        timeout=scan.timeout_seconds,
        max_bytes=scan.stream_max_bytes,
    )


async def _verdict(
    clamd: Clamd, store: BlobStore, keyring: Keyring, tenant: str, row: StoredFile
) -> Verdict:
    return await clamd.scan(opened_lazily(store, keyring, tenant, row))


def _backoff(scan: ScanSettings, attempts: int, cap: int) -> timedelta:
    return timedelta(seconds=min(scan.backoff_seconds * 2 ** min(attempts - 1, 16), cap))


async def _finish(row: StoredFile, state: str, signature: str = "") -> bool:
    """Set the final state if the file is still pending; True if this call set it (so one
    replica, not two, writes the audit event)."""
    changed = (
        await StoredFile.update(
            {
                StoredFile.scan_state: state,
                StoredFile.scan_signature: signature,
                StoredFile.scanned_at: datetime.now(UTC),
                StoredFile.scan_after: None,
            }
        )
        .where((StoredFile.id == row.id) & (StoredFile.scan_state == PENDING))
        .returning(StoredFile.id)
    )
    return bool(changed)


async def _postpone(
    scan: ScanSettings, row: StoredFile, attempts: int, cap: int = MAX_OUTAGE_BACKOFF_SECONDS
) -> None:
    await StoredFile.update(
        {
            StoredFile.scan_attempts: attempts,
            StoredFile.scan_after: datetime.now(UTC) + _backoff(scan, attempts, cap),
        }
    ).where((StoredFile.id == row.id) & (StoredFile.scan_state == PENDING))


async def scan_row(settings: Settings, store: BlobStore, keyring: Keyring, row: StoredFile) -> str:
    """Scan one pending file and record the outcome; returns the state it is in now.

    clamd unreachable → :class:`ClamdUnavailable` propagates after the row was postponed
    (the caller stops its round: the next file would fail the same way).
    """
    attempts = row.scan_attempts + 1
    try:
        verdict = await _verdict(clamd_of(settings.scan), store, keyring, settings.tenant.slug, row)
    except ClamdUnavailable:
        await _postpone(settings.scan, row, attempts)
        raise
    except ScanError as error:
        if attempts >= settings.scan.max_errors:
            if await _finish(row, ERROR):
                log.warning("file %s could not be scanned, closed: %s", row.id, error)
                await record(SYSTEM, "file.scan_failed", "stored_file", row.id)
            return ERROR
        log.warning("file %s: clamd could not scan it (%s), will retry", row.id, error)
        await _postpone(settings.scan, row, attempts, MAX_BACKOFF_SECONDS)
        return PENDING
    except (StorageError, CryptoError, OSError) as error:
        # Storage down, key missing: the file waits, nothing is lost.
        log.warning("file %s could not be read for scanning: %s", row.id, type(error).__name__)
        await _postpone(settings.scan, row, attempts)
        return PENDING
    if verdict.clean:
        await _finish(row, CLEAN)
        return CLEAN
    if await _finish(row, INFECTED, verdict.signature or ""):
        log.warning("file %s quarantined: %s", row.id, verdict.signature)
        await record(SYSTEM, "file.quarantined", "stored_file", row.id)
    return INFECTED


@dataclass
class ScanRound:
    scanned: int = 0
    clean: int = 0
    infected: int = 0
    failed: int = 0
    clamd_down: bool = False


async def scan_rows(
    settings: Settings, store: BlobStore, keyring: Keyring, rows: Iterable[StoredFile]
) -> ScanRound:
    result = ScanRound()
    for row in rows:
        try:
            state = await scan_row(settings, store, keyring, row)
        except ClamdUnavailable as error:
            log.warning("virus scan postponed, clamd is unavailable: %s", error)
            result.clamd_down = True
            break
        result.scanned += 1
        result.clean += state == CLEAN
        result.infected += state == INFECTED
        result.failed += state in (ERROR, PENDING)
    return result


async def scan_due(settings: Settings, store: BlobStore, keyring: Keyring) -> ScanRound:
    """The worker's step: every pending file whose back-off has passed, oldest first."""
    if not settings.scan.enabled:
        return ScanRound()
    now = datetime.now(UTC)
    result = ScanRound()
    last_id = 0
    while not result.clamd_down:
        rows: list[StoredFile] = (
            await StoredFile.objects()
            .where(
                (StoredFile.scan_state == PENDING)
                & (StoredFile.id > last_id)
                & (StoredFile.scan_after.is_null() | (StoredFile.scan_after <= now))
            )
            .order_by(StoredFile.id)
            .limit(BATCH)
        )
        if not rows:
            break
        last_id = rows[-1].id
        part = await scan_rows(settings, store, keyring, rows)
        result.scanned += part.scanned
        result.clean += part.clean
        result.infected += part.infected
        result.failed += part.failed
        result.clamd_down = part.clamd_down
    return result


async def scan_now(
    settings: Settings, store: BlobStore, keyring: Keyring, stored_ids: list[int]
) -> None:
    """Right after an upload was acknowledged: scan its files now rather than at the
    worker's next round. Failures leave them pending for the worker; never raises."""
    if not settings.scan.enabled or not stored_ids:
        return
    try:
        rows = await StoredFile.objects().where(
            StoredFile.id.is_in(stored_ids) & (StoredFile.scan_state == PENDING)
        )
        await scan_rows(settings, store, keyring, rows)
    except Exception:
        log.exception("scanning right after the upload failed; the worker retries")


async def counts() -> dict[str, int]:
    """Files per scan state (for ``dokportal scan status``)."""
    result = dict.fromkeys((UNSCANNED, PENDING, CLEAN, INFECTED, ERROR), 0)
    rows = await StoredFile.select(StoredFile.scan_state, Count(alias="n")).group_by(
        StoredFile.scan_state
    )
    for row in rows:
        result[str(row["scan_state"])] = int(row["n"])
    return result


async def queue(states: list[str]) -> int:
    """Back to ``pending`` (closed until scanned): files stored before scanning was on, or
    ones clamd could not check. Never ``infected``: a quarantine is not undone here."""
    chosen = [state for state in states if state in (UNSCANNED, ERROR)]
    if not chosen:
        return 0
    changed = (
        await StoredFile.update(
            {
                StoredFile.scan_state: PENDING,
                StoredFile.scan_attempts: 0,
                StoredFile.scan_after: None,
            }
        )
        .where(StoredFile.scan_state.is_in(chosen))
        .returning(StoredFile.id)
    )
    return len(changed)


async def scan_before_recording(
    settings: Settings,
    store: BlobStore,
    keyring: Keyring,
    ingested: Ingested,
    *,
    actor: Actor,
    subject: tuple[str, object],
) -> str:
    """Scan a stored but not yet recorded file (a staff notice) while the sender waits.

    Returns the state for its row (``clean``, or ``unscanned`` without a scanner). Infected,
    unscannable or clamd down: the blob is deleted and a :class:`PortalError` tells the
    sender, who still has the file; nothing reaches the customer.
    """
    if not settings.scan.enabled:
        return UNSCANNED
    row = ingested.as_row()
    try:
        verdict = await _verdict(clamd_of(settings.scan), store, keyring, settings.tenant.slug, row)
    except (ClamdUnavailable, ScanError) as error:
        log.warning("notice not sent, virus scan unavailable: %s", error)
        await store.delete(ingested.blob_id)
        raise ServiceUnavailable(
            "The virus check is not available right now. Nothing was sent; "
            "please try again in a few minutes."
        ) from error
    except BaseException:
        await store.delete(ingested.blob_id)
        raise
    if verdict.clean:
        return CLEAN
    await store.delete(ingested.blob_id)
    await record(actor, "file.rejected_infected", *subject)
    raise UnsupportedType(
        "The file %(name)s contains a virus (%(signature)s). It was not sent.",
        name=ingested.display_name,
        signature=verdict.signature or "",
    )
