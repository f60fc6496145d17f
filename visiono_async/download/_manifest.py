"""The archive's manifest: an SQLite database in ``dest`` recording every archived file.

A re-run consults it (plus a ``stat`` of the file) to skip what is complete without
touching storage. A file's row is committed before the file takes its final name, in the
same worker-thread job (see ``_finish``), so a file under a final name always has its row.
A manifest that is damaged, foreign or unwritable is an ``ArchiveError`` naming it and
saying how to rebuild it, never a raw ``sqlite3`` error and never a fresh start.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import anyio
import attrs

from ._destination import STATE_DIR
from ._record import ROW_COLUMNS, ArchivedFile
from ._report import ArchiveError

__all__ = [
    "MANIFEST_NAME",
    "STATE_DIR",
    "Known",
    "Manifest",
    "ManifestEntry",
    "manifest_path",
    "read_manifest",
]

MANIFEST_NAME = "manifest.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    batch TEXT,
    submission_id TEXT,
    photo_request_id TEXT,
    smart_link_id TEXT,
    item_id TEXT,
    variant TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mime_type TEXT,
    latitude REAL,
    longitude REAL,
    submitted_at TEXT,
    archived_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'ok'
);
CREATE INDEX IF NOT EXISTS files_path ON files (path);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO info (key, value) VALUES ('schema_version', '2');
"""
_COLUMNS = ", ".join(ROW_COLUMNS)
_ROWS_PER_INSERT = 64
"""Rows per ``INSERT``: SQLite runs a statement with the GIL released, so one statement
for many rows lets the event loop's thread in once per 64 rows rather than once per row
(each such hand-off costs a thread wake-up). 64 rows of 15 columns stay within the oldest
SQLite limit of 999 parameters."""
STATE_CHANGED = "changed"
"""The ``state`` of a row whose file ``verify`` found changed: fetched again, never trusted."""


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_sql(rows: int) -> str:
    one = "(" + ", ".join("?" * len(ROW_COLUMNS)) + ")"
    return f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES " + ", ".join([one] * rows)


def manifest_path(dest: str | os.PathLike[str]) -> str:
    """Where the manifest of ``dest`` lives."""
    return os.path.join(os.fspath(dest), STATE_DIR, MANIFEST_NAME)


def _rebuild_hint(path: str) -> str:
    return (
        f"to rebuild it, move it away (mv {path} {path}.damaged) and run the archive again: "
        "files already in the destination whose size and type match what the source "
        "announces are recorded again without being downloaded"
    )


def damaged(path: str, what: str) -> ArchiveError:
    """The error for a manifest that cannot be used as it is."""
    return ArchiveError(
        f"the manifest {path} {what}; {_rebuild_hint(path)}", reason="manifest_damaged"
    )


def _write_failed(path: str, exc: BaseException) -> ArchiveError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return damaged(path, f"is damaged ({text})")
    full = "full" in text.lower() or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    if full:
        return ArchiveError(
            f"cannot write the manifest {path}: the disk is full ({text})", reason="disk_full"
        )
    return ArchiveError(
        f"cannot write the manifest {path}: {text} (is it read-only or immutable?)",
        reason="manifest_unwritable",
    )


@attrs.frozen(kw_only=True)
class ManifestEntry:
    """One archived file as recorded in the manifest.

    Attributes:
        id: The file's id (the submission id; ``":thumbnail"`` appended for thumbnails).
        batch: The batch it came from (photo request or smart link id).
        submission_id: The submission, when known.
        photo_request_id: The photo request, when known (``None`` for smart-link photos).
        smart_link_id: The smart link, when known.
        item_id: The photo request item, when known.
        variant: ``"original"`` or ``"thumbnail"``.
        path: The path relative to ``dest``, with ``/`` separators.
        bytes: Its size.
        sha256: Hex SHA-256 of its content.
        mime_type: The MIME type the source announced, else the one its bytes revealed.
        latitude: GPS latitude, when the photo had GPS data.
        longitude: GPS longitude, when the photo had GPS data.
        submitted_at: When the photo was submitted (ISO 8601), when known.
        archived_at: When the file was archived (ISO 8601, UTC).
    """

    id: str
    batch: str | None
    submission_id: str | None
    photo_request_id: str | None
    smart_link_id: str | None
    item_id: str | None
    variant: str
    path: str
    bytes: int
    sha256: str
    mime_type: str | None
    latitude: float | None
    longitude: float | None
    submitted_at: str | None
    archived_at: str


@attrs.frozen
class Known:
    """What the manifest knows of a file: where it is, its size and hash, its state."""

    path: str
    bytes: int
    sha256: str
    state: str = "ok"


def _check_file(path: str) -> bool:
    """Whether a manifest exists at ``path``; raises when something else sits there."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise damaged(path, f"cannot be read ({exc.strerror or exc})") from exc
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise damaged(path, "is not a file")
    if st.st_size == 0:
        raise damaged(path, "is empty (0 bytes): not an archive manifest")
    # The header is checked through SQLite (_check_contents), never by opening the file
    # here: closing any other descriptor of the database drops every POSIX lock SQLite
    # holds on it in this process, and another process sharing the manifest may then
    # reset the WAL under this one's connections (rows were lost that way).
    return True


BUSY_TIMEOUT_MS = 30000
"""How long a manifest statement waits for another run's write before failing."""


@contextlib.contextmanager
def _opening(path: str) -> Iterator[None]:
    """Hold ``<manifest>.open-lock`` while a manifest is checked, created or upgraded.

    Runs sharing a destination start together: without it, one could find the 0-byte file
    another has just created (and call it damaged), or meet its journal-mode switch with
    ``database is locked`` (SQLite does not wait on that lock). POSIX; a no-op elsewhere,
    where a destination is never shared.
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    try:
        fd = os.open(path + ".open-lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # a read-only state folder: the open itself will say what is wrong
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _open(path: str, *, create: bool) -> sqlite3.Connection:
    """Open, check and (for a new or older one) set up the manifest at ``path``."""
    with _opening(path):
        return _open_unlocked(path, create=create)


def _open_unlocked(path: str, *, create: bool) -> sqlite3.Connection:
    exists = _check_file(path)
    if not exists and not create:
        raise FileNotFoundError(path)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise damaged(path, f"cannot be opened ({exc})") from exc
    try:
        # Runs sharing a destination (shared_dest=True) queue for the write lock, not fail.
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if exists:
            _check_contents(conn, path)
        if create:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
            if "state" not in columns:  # a schema 1 manifest
                conn.execute("ALTER TABLE files ADD COLUMN state TEXT NOT NULL DEFAULT 'ok'")
                conn.execute("UPDATE info SET value = '2' WHERE key = 'schema_version'")
    except ArchiveError:
        conn.close()
        raise
    except (sqlite3.Error, OSError) as exc:
        conn.close()
        raise _write_failed(path, exc) from exc
    return conn


def _check_contents(conn: sqlite3.Connection, path: str) -> None:
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise damaged(path, "is not an SQLite database (its header is wrong)") from exc
        raise damaged(path, f"is damaged ({exc})") from exc
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"files", "info"} <= tables:
            raise damaged(path, "is an SQLite database, but not an archive manifest")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
        missing = set(ROW_COLUMNS) - columns
        if missing:
            raise damaged(path, f"lacks the columns {', '.join(sorted(missing))}")
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise damaged(path, f"is damaged ({exc})") from exc
    if problems != ["ok"]:
        raise damaged(path, f"is damaged ({'; '.join(problems)})")


class Manifest:
    """An open manifest: an in-memory index for skip decisions plus row writes.

    ``await Manifest.open(state_dir)`` on the event loop; :meth:`commit` and :meth:`delete`
    are blocking and meant for worker threads (they serialise on a lock of their own); the
    index (:meth:`lookup`, :meth:`owner`, :meth:`note`) belongs to the event loop.
    """

    def __init__(self, conn: sqlite3.Connection, path: str, index: dict[str, Known]) -> None:
        self._conn = conn
        self.path = path
        self._index = index
        self._owners = {known.path: file_id for file_id, known in index.items()}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    async def open(cls, state_dir: str) -> Manifest:
        """Open (creating if missing) the manifest in ``state_dir`` and load its index.

        Raises:
            ArchiveError: ``manifest_damaged`` (not a manifest, damaged, empty),
                ``manifest_unwritable`` or ``disk_full``; the message names the file.
        """
        path = os.path.join(state_dir, MANIFEST_NAME)

        def load() -> Manifest:
            conn = _open(path, create=True)
            try:
                rows = conn.execute("SELECT id, path, bytes, sha256, state FROM files").fetchall()
            except sqlite3.Error as exc:
                conn.close()
                raise damaged(path, f"cannot be read ({exc})") from exc
            return cls(conn, path, {r[0]: Known(r[1], r[2], r[3], r[4]) for r in rows})

        return await anyio.to_thread.run_sync(load)

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, file_id: str) -> Known | None:
        """What an earlier run recorded of this file, else ``None``."""
        return self._index.get(file_id)

    def owner(self, rel_path: str) -> str | None:
        """The id of the file recorded at ``rel_path``, if any."""
        return self._owners.get(rel_path)

    def note(self, archived: Iterable[ArchivedFile]) -> None:
        """Update the index with rows just committed (on the event loop)."""
        for a in archived:
            self._index[a.file.id] = Known(a.path, a.bytes, a.sha256)
            self._owners[a.path] = a.file.id

    def commit(self, archived: Sequence[ArchivedFile]) -> None:
        """Write rows in one transaction (blocking; a worker thread's job).

        Raises:
            ArchiveError: The manifest cannot be written (full disk, read-only, damaged).
        """
        if not archived:
            return
        rows = [a.row() for a in archived]

        def insert(conn: sqlite3.Connection) -> None:
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                conn.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])

        self._write(insert)

    def delete(self, file_ids: Iterable[str]) -> None:
        """Remove rows (blocking; a worker thread's job)."""
        ids = [(i,) for i in file_ids]
        if ids:
            self._write(lambda conn: conn.executemany("DELETE FROM files WHERE id = ?", ids))

    def mark(self, file_ids: Iterable[str], state: str) -> None:
        """Set the ``state`` of rows (blocking; a worker thread's job)."""
        rows = [(state, i) for i in file_ids]
        if rows:
            self._write(
                lambda conn: conn.executemany("UPDATE files SET state = ? WHERE id = ?", rows)
            )

    def _write(self, job: Callable[[sqlite3.Connection], object]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    job(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                raise _write_failed(self.path, exc) from exc

    async def forget(self, file_ids: Iterable[str]) -> None:
        """Remove entries whose files are gone from disk."""
        ids = list(file_ids)
        for i in ids:
            known = self._index.pop(i, None)
            if known is not None:
                self._owners.pop(known.path, None)
        if ids:
            await anyio.to_thread.run_sync(self.delete, ids)

    async def aclose(self) -> None:
        """Close the database."""

        def close() -> None:
            with self._lock:
                if not self._closed:
                    self._closed = True
                    self._conn.close()

        await anyio.to_thread.run_sync(close)


def read_rows(dest: str | os.PathLike[str]) -> list[tuple[ManifestEntry, str]] | None:
    """Every row with its state, ordered by path (blocking); ``None`` without a manifest.

    Raises:
        ArchiveError: The manifest is damaged or not a manifest.
    """
    path = manifest_path(dest)
    try:
        conn = _open(path, create=False)
    except FileNotFoundError:
        return None
    try:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
        state = "state" if "state" in columns else "'ok'"  # a schema 1 manifest
        rows = conn.execute(f"SELECT {_COLUMNS}, {state} FROM files ORDER BY path").fetchall()
    except sqlite3.Error as exc:
        raise damaged(path, f"cannot be read ({exc})") from exc
    finally:
        conn.close()
    return [
        (ManifestEntry(**dict(zip(ROW_COLUMNS, row[:-1], strict=True))), row[-1]) for row in rows
    ]


async def read_manifest(dest: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Every file the manifest in ``dest`` records, ordered by path.

    Args:
        dest: The archive's destination folder.

    Returns:
        The entries; empty when ``dest`` has no manifest yet.

    Raises:
        ArchiveError: The manifest is damaged or not a manifest (``manifest_damaged``).
    """
    rows = await anyio.to_thread.run_sync(read_rows, dest)
    return [entry for entry, _ in rows or ()]
