"""Several archive runs (processes) in one destination at once: ``archive(shared_dest=True)``.

A run in shared mode holds ``.visiono/lock`` shared, so shared runs coexist while a run in
the default exclusive mode (and ``visiono archive``) still refuses to start beside them, and
they beside it. Every file is claimed before it is fetched: an exclusive ``flock`` on
``.visiono/claims/<bucket of the file id's hash>.lock``. The claimant looks in the manifest on disk
(not the copy the run loaded when it started) and skips a file another run has recorded;
otherwise it fetches the file and records it before it lets the claim go. So one file is
never fetched by two runs at once and never written twice, and a run that dies releases its
claims with its process (the kernel drops its locks): a retried job takes over cleanly.

Each shared run writes its temp files in a folder of its own (``.visiono/tmp/run-<token>``,
locked while the run lives); a run starting up removes the folders of runs that died.
POSIX only (``fcntl.flock``); the manifest is SQLite in WAL mode with a busy timeout, so the
runs' writes queue instead of failing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator

import anyio

from ._manifest import MANIFEST_NAME
from ._report import ArchiveError

__all__ = ["BUSY_TIMEOUT", "SharedDestination"]

BUSY_TIMEOUT = 30.0
"""Seconds an SQLite statement waits for another run's write to finish before failing."""

_CLAIM_POLL = 0.02
"""Seconds between attempts at a claim another run holds (it finishes, or dies)."""

_flock = None
if sys.platform != "win32":
    import fcntl

    _flock = fcntl.flock


def _lock(fd: int, flags: int) -> bool:
    assert _flock is not None
    try:
        _flock(fd, flags | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class SharedDestination:
    """One run's share of a destination: its lock, its temp folder and its file claims.

    Use ``await SharedDestination.open(state_dir)`` and ``close()`` when the run ends.
    """

    def __init__(self, state_dir: str, lock_fd: int, tmp_dir: str, tmp_fd: int) -> None:
        self.state_dir = state_dir
        self.tmp_dir = tmp_dir
        """This run's own temp folder."""
        self._lock_fd = lock_fd
        self._tmp_fd = tmp_fd
        self._claims_dir = os.path.join(state_dir, "claims")
        self._manifest_path = os.path.join(state_dir, MANIFEST_NAME)
        self._conn: sqlite3.Connection | None = None
        self._db_lock = anyio.Lock()

    @classmethod
    async def open(cls, state_dir: str) -> SharedDestination:
        """Join the destination whose state folder is ``state_dir``.

        Raises:
            ArchiveError: ``destination_busy`` when an exclusive run holds it.
            ValueError: The platform has no ``flock`` (Windows).
        """
        if _flock is None:
            raise ValueError("shared_dest needs POSIX file locks (fcntl.flock)")
        return await anyio.to_thread.run_sync(cls._open, state_dir)

    @classmethod
    def _open(cls, state_dir: str) -> SharedDestination:
        lock_fd = os.open(os.path.join(state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        if not _lock(lock_fd, fcntl.LOCK_SH):
            os.close(lock_fd)
            raise ArchiveError(
                "an exclusive archive run is writing to this destination",
                reason="destination_busy",
            )
        try:
            tmp_root = os.path.join(state_dir, "tmp")
            os.makedirs(os.path.join(state_dir, "claims"), exist_ok=True)
            _clean_dead_runs(tmp_root)
            token = f"run-{os.getpid()}-{secrets.token_hex(4)}"
            tmp_fd = os.open(os.path.join(tmp_root, token + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            _lock(tmp_fd, fcntl.LOCK_EX)  # new and ours: never held by another
            tmp_dir = os.path.join(tmp_root, token)
            os.makedirs(tmp_dir)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(state_dir, lock_fd, tmp_dir, tmp_fd)

    def close(self) -> None:
        """Remove this run's temp folder and release the destination (blocking: a worker
        thread's job)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with contextlib.suppress(OSError):
            shutil.rmtree(self.tmp_dir)
        with contextlib.suppress(OSError):
            os.unlink(self.tmp_dir + ".lock")
        os.close(self._tmp_fd)
        os.close(self._lock_fd)

    @contextlib.asynccontextmanager
    async def claim(self, file_id: str) -> AsyncIterator[tuple[str, int] | None]:
        """Hold the claim on ``file_id`` for the block, waiting while another run holds it.

        Yields:
            ``(path, bytes)`` when another run has archived the file meanwhile (its row is
            in the manifest and the file on disk has that size), else None: fetch it, and
            record it before the block ends.
        """
        # 4096 lock files, however many files: two ids in one bucket only take turns.
        bucket = hashlib.sha256(file_id.encode("utf-8", "surrogatepass")).hexdigest()[:3]
        path = os.path.join(self._claims_dir, bucket + ".lock")
        # The open, each attempt at the lock and the close in worker threads: on a network
        # file system each is a round trip, which must not hold the event loop.
        fd, held = await anyio.to_thread.run_sync(_open_and_try, path)
        try:
            while not held:  # another process holds it
                await anyio.sleep(_CLAIM_POLL)
                held = await anyio.to_thread.run_sync(_lock, fd, fcntl.LOCK_EX)
            yield await self._archived(file_id)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(os.close, fd)  # which drops the lock

    async def _archived(self, file_id: str) -> tuple[str, int] | None:
        root = os.path.dirname(self.state_dir)

        def look() -> tuple[str, int] | None:
            if self._conn is None:
                if not os.path.exists(self._manifest_path):
                    return None
                self._conn = _connect_reader(self._manifest_path)
            row = self._conn.execute(
                "SELECT path, bytes FROM files WHERE id = ?", (file_id,)
            ).fetchone()
            if row is None:
                return None
            try:
                on_disk = os.stat(os.path.join(root, row[0])).st_size
            except OSError:
                return None
            return (str(row[0]), int(row[1])) if on_disk == row[1] else None

        async with self._db_lock:
            return await anyio.to_thread.run_sync(look)


def _open_and_try(path: str) -> tuple[int, bool]:
    """Open a claim's lock file and try its lock once: ``(descriptor, held)``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return fd, _lock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise


def _connect_reader(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    return conn


def _clean_dead_runs(tmp_root: str) -> None:
    """Remove the temp folders of shared runs whose process is gone (their lock is free)."""
    os.makedirs(tmp_root, exist_ok=True)
    with os.scandir(tmp_root) as entries:
        locks = [e.path for e in entries if e.name.startswith("run-") and e.name.endswith(".lock")]
    for lock_path in locks:
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except OSError:
            continue
        try:
            if _lock(fd, fcntl.LOCK_EX):
                shutil.rmtree(lock_path[: -len(".lock")], ignore_errors=True)
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
        finally:
            os.close(fd)
