"""Blobs as files in a local folder (a Kubernetes volume, or a developer's disk).

Layout::

    root/.incoming/<id>.part     uploads in progress (or left by a crash)
    root/<id[:2]>/<id>           committed blobs, sharded so no folder grows huge

Commit = fsync the file, rename it into place, fsync both folders: after a crash a
blob is either complete and visible or only a ``.part`` file the sweeper removes.
Files are 0600 and folders 0700: blobs are ciphertext, but their sizes and times are
still personal data. Blocking calls run in worker threads, writes batched to ~1 MiB
so a 64 KiB-chunked upload does not pay one thread hop per chunk.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from dokportal.storage.base import BlobInfo, WriterState, validate_blob_id
from dokportal.storage.errors import BlobNotFound, StorageError, StorageUnavailable

_T = TypeVar("_T")
_INCOMING = ".incoming"
_PART = ".part"
_MIB = 1024 * 1024
_FADVISE = getattr(os, "posix_fadvise", None)  # not on macOS: there the fsync does it all

log = logging.getLogger(__name__)


class FolderBlobStore:
    """A `BlobStore` on a local file system."""

    def __init__(self, root: Path, *, buffer_size: int = _MIB, read_chunk_size: int = _MIB) -> None:
        """Use `root`, which must exist: a missing mount must not become a new folder.

        Creating the root would silently write documents into the container's
        throw-away file system when the volume failed to mount.
        """
        self.root = root
        self.buffer_size = buffer_size
        self.read_chunk_size = read_chunk_size

    def __repr__(self) -> str:
        return f"FolderBlobStore({str(self.root)!r})"

    async def ensure_root(self) -> None:
        """Create the root folder (0700) if missing: for setup steps, never per request."""

        def create() -> None:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

        await _run(self.root, create)

    # -- paths --

    def _final(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id

    def _part(self, blob_id: str) -> Path:
        return self.root / _INCOMING / f"{blob_id}{_PART}"

    # -- the BlobStore protocol --

    async def open_writer(self, blob_id: str) -> FolderBlobWriter:
        """Create ``.incoming/<id>.part`` exclusively (a second writer fails)."""
        validate_blob_id(blob_id)
        part = self._part(blob_id)

        def create() -> io.FileIO:
            self._require_root()
            _mkdir(part.parent, fsync_parent=False)
            return io.FileIO(part, "xb", opener=_private_opener)

        try:
            handle = await anyio.to_thread.run_sync(create)
        except FileExistsError:
            raise StorageError(f"blob {blob_id} is already being written") from None
        except OSError as exc:
            raise StorageUnavailable(_describe(self.root, exc)) from exc
        return FolderBlobWriter(self, handle, part, self._final(blob_id))

    async def read(self, blob_id: str) -> AsyncIterator[bytes]:
        """Stream the committed blob in ``read_chunk_size`` pieces."""
        path = self._final(validate_blob_id(blob_id))
        try:
            handle = await anyio.to_thread.run_sync(io.FileIO, path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {blob_id} not found") from None
        except OSError as exc:
            raise StorageUnavailable(_describe(self.root, exc)) from exc
        try:
            size = self.read_chunk_size
            while chunk := await _run(self.root, partial(handle.read, size)):
                yield chunk
        finally:
            handle.close()

    async def read_range(self, blob_id: str, start: int, length: int) -> bytes:
        """Read one piece of the committed blob (``pread``, no shared file position)."""
        path = self._final(validate_blob_id(blob_id))
        _check_range(start, length)

        def read() -> bytes:
            try:
                handle = io.FileIO(path, "rb")
            except FileNotFoundError:
                raise BlobNotFound(f"blob {blob_id} not found") from None
            with handle:
                pieces, offset, wanted = [], start, length
                while wanted > 0 and (piece := os.pread(handle.fileno(), wanted, offset)):
                    pieces.append(piece)
                    offset += len(piece)
                    wanted -= len(piece)
                return b"".join(pieces)

        if length == 0:
            return b""
        return await _run(self.root, read)

    async def delete(self, blob_id: str) -> None:
        """Remove the blob and a partial upload of it, durably; idempotent."""
        final, part = self._final(validate_blob_id(blob_id)), self._part(blob_id)

        def remove() -> None:
            for path in (final, part):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                _fsync_dir(path.parent)

        await _run(self.root, remove)

    async def exists(self, blob_id: str) -> bool:
        """Tell whether the blob is committed."""
        final = self._final(validate_blob_id(blob_id))
        return await _run(self.root, final.is_file)

    async def list_blobs(self) -> AsyncIterator[BlobInfo]:
        """Walk the shard folders one at a time (bounded memory per step)."""

        def folders() -> list[str]:
            self._require_root()
            return sorted(
                entry.name
                for entry in os.scandir(self.root)
                if entry.is_dir(follow_symlinks=False)
                and (entry.name == _INCOMING or len(entry.name) == 2)
            )

        for name in await _run(self.root, folders):
            scan = partial(_scan, self.root / name, incoming=name == _INCOMING)
            for info in await _run(self.root, scan):
                yield info

    async def check(self) -> None:
        """Probe: the root exists and a file can be written, synced and removed."""

        def probe() -> None:
            self._require_root()
            incoming = self.root / _INCOMING
            _mkdir(incoming, fsync_parent=False)
            path = incoming / f".probe-{secrets.token_hex(8)}"
            try:
                with io.FileIO(path, "xb", opener=_private_opener) as handle:
                    handle.write(b"probe")
                    os.fsync(handle.fileno())
            finally:
                path.unlink(missing_ok=True)

        await _run(self.root, probe)

    def _require_root(self) -> None:
        if not self.root.is_dir():
            what = "is not a directory" if self.root.exists() else "does not exist"
            raise StorageUnavailable(f"blob folder {self.root} {what}")


class FolderBlobWriter(WriterState):
    """An upload into ``.incoming``; `commit` renames it into place."""

    def __init__(self, store: FolderBlobStore, handle: io.FileIO, part: Path, final: Path) -> None:
        """Take over an open, exclusively created ``.part`` file."""
        self._store = store
        self._handle = handle
        self._part = part
        self._final = final
        self._buffer = bytearray()
        self._written = 0

    async def write(self, data: bytes) -> None:
        """Buffer `data`; hand ~1 MiB at a time to a worker thread."""
        self._require_open()
        pending: bytes | bytearray
        if not self._buffer and len(data) >= self._store.buffer_size:
            pending = data  # a full batch already: write it as it is, without a copy
        else:
            self._buffer += data
            if len(self._buffer) < self._store.buffer_size:
                return
            pending, self._buffer = self._buffer, bytearray()
        await self._guard(lambda: self._write_sync(pending))

    def _write_sync(self, data: bytes | bytearray) -> None:
        """Write, then let the kernel start putting these pages on disk right away.

        Otherwise a large upload stays in the page cache until `commit`'s fsync, which
        then writes all of it while the customer waits (~80 ms per 200 MB here). On Linux
        ``POSIX_FADV_DONTNEED`` on dirty pages starts their writeback without waiting for
        it, and drops them from the cache once clean: ciphertext is read rarely.
        """
        _write_all(self._handle, data)
        if _FADVISE is not None:
            _FADVISE(self._handle.fileno(), self._written, len(data), os.POSIX_FADV_DONTNEED)
        self._written += len(data)

    async def commit(self) -> None:
        """Flush, fsync, rename into place, fsync the folders; then it is durable."""
        self._require_open()
        pending, self._buffer = self._buffer, bytearray()
        await self._guard(lambda: self._commit_sync(pending))
        self._state = "committed"

    async def abort(self) -> None:
        """Close and delete the ``.part`` file; a no-op once committed or aborted."""
        if not self._begin_abort():
            return
        self._buffer = bytearray()
        with anyio.CancelScope(shield=True):  # cleanup must survive a cancelled upload
            await anyio.to_thread.run_sync(self._abort_sync)

    def _commit_sync(self, pending: bytearray) -> None:
        _write_all(self._handle, pending)
        os.fsync(self._handle.fileno())
        self._handle.close()
        _mkdir(self._final.parent, fsync_parent=True)
        os.rename(self._part, self._final)
        try:
            _fsync_dir(self._final.parent)
            _fsync_dir(self._part.parent)
        except OSError:
            # Not known to be durable, so not committed: take it back.
            self._final.unlink(missing_ok=True)
            raise

    def _abort_sync(self) -> None:
        try:
            self._handle.close()
            self._part.unlink(missing_ok=True)
        except OSError as exc:  # best effort: the orphan sweeper gets the rest
            log.warning("could not remove partial upload %s: %s", self._part, exc)

    async def _guard(self, func: Callable[[], None]) -> None:
        """Run I/O in a thread; any failure poisons the writer until `abort`."""
        with self._poisoned_by_failure():
            await _run(self._store.root, func)


async def _run(root: Path, func: Callable[[], _T]) -> _T:
    """Run blocking I/O in a thread; OS errors become `StorageUnavailable`."""
    try:
        return await anyio.to_thread.run_sync(func)
    except OSError as exc:
        raise StorageUnavailable(_describe(root, exc)) from exc


def _check_range(start: int, length: int) -> None:
    if start < 0 or length < 0:
        raise ValueError("a range starts and has a length at or above 0")


def _private_opener(path: str, flags: int) -> int:
    """Open with mode 0600 and never through a symlink planted in the folder."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _write_all(handle: io.FileIO, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if written is None:  # only for non-blocking files, which these are not
            raise OSError("write would block")
        view = view[written:]


def _mkdir(path: Path, *, fsync_parent: bool) -> None:
    """Create one folder level (0700); fsync its parent so the new entry survives."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    if fsync_parent:
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scan(folder: Path, *, incoming: bool) -> list[BlobInfo]:
    """List one folder; in ``.incoming`` only ``<id>.part`` files, as partial uploads."""
    infos = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if incoming:
                if not name.endswith(_PART):
                    continue
                name = name[: -len(_PART)]
            try:
                validate_blob_id(name)
                stat = entry.stat(follow_symlinks=False)
            except (StorageError, FileNotFoundError):
                continue  # not ours, or gone since the listing
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            infos.append(BlobInfo(name, stat.st_size, modified, partial=incoming))
    return infos


def _describe(root: Path, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"blob folder {root}: {reason}"
