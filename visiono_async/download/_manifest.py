"""The archive's manifest: an SQLite database in ``dest`` recording every archived file.

A re-run consults it (plus a ``stat`` of the file) to skip what is complete without
touching storage. All SQLite work runs in worker threads, and writes are batched: a file is
recorded only after it sits under its final name, so an interrupted run leaves a manifest
that is a subset of what is on disk, never more.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import attrs

from ._fetch import FetchResult

__all__ = ["MANIFEST_NAME", "STATE_DIR", "Manifest", "ManifestEntry", "read_manifest"]

STATE_DIR = ".visiono"
"""The folder in ``dest`` holding the manifest, the lock and temp files."""

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
    archived_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_path ON files (path);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO info (key, value) VALUES ('schema_version', '1');
"""
_COLUMNS = (
    "id, batch, submission_id, photo_request_id, smart_link_id, item_id, variant, path, "
    "bytes, sha256, mime_type, latitude, longitude, submitted_at, archived_at"
)


@attrs.frozen(kw_only=True)
class ManifestEntry:
    """One archived file as recorded in the manifest.

    Attributes:
        id: The file's id (the submission id; ``":thumbnail"`` appended for thumbnails).
        batch: The batch it came from (photo request or smart link id).
        submission_id: The submission, when known.
        photo_request_id: The photo request, when known.
        smart_link_id: The smart link, when known.
        item_id: The photo request item, when known.
        variant: ``"original"`` or ``"thumbnail"``.
        path: The path relative to ``dest``, with ``/`` separators.
        bytes: Its size.
        sha256: Hex SHA-256 of its content.
        mime_type: The MIME type the source announced.
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


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    # Runs sharing a destination (shared_dest=True) queue for the write lock, not fail.
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def _row(result: FetchResult, batch: str, archived_at: str) -> tuple[Any, ...]:
    f = result.file
    get = f.fields.get
    return (
        f.id,
        batch,
        get("submission_id") or None,
        get("photo_request_id") or None,
        get("smart_link_id") or None,
        get("item_id") or None,
        f.variant,
        result.rel_path,
        result.bytes,
        result.sha256,
        result.mime_type,
        f.latitude,
        f.longitude,
        f.submitted_at,
        archived_at,
    )


class Manifest:
    """An open manifest: an in-memory index for skip decisions plus batched writes.

    Use ``await Manifest.open(state_dir)``; all methods that touch SQLite are async and run
    in worker threads.
    """

    def __init__(self, conn: sqlite3.Connection, index: dict[str, tuple[str, int]]) -> None:
        self._conn = conn
        self._index = index
        self._owners = {path: file_id for file_id, (path, _) in index.items()}
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, state_dir: str) -> Manifest:
        """Open (creating if needed) the manifest in ``state_dir`` and load its index."""

        def load() -> Manifest:
            conn = _connect(os.path.join(state_dir, MANIFEST_NAME))
            try:
                rows = conn.execute("SELECT id, path, bytes FROM files").fetchall()
            except BaseException:
                conn.close()
                raise
            return cls(conn, {r[0]: (r[1], r[2]) for r in rows})

        return await anyio.to_thread.run_sync(load)

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, file_id: str) -> tuple[str, int] | None:
        """``(path, bytes)`` of a file archived by an earlier run, else ``None``."""
        return self._index.get(file_id)

    def owner(self, rel_path: str) -> str | None:
        """The id of the file recorded at ``rel_path``, if any."""
        return self._owners.get(rel_path)

    async def record(self, results: Sequence[tuple[FetchResult, str]]) -> None:
        """Record archived files (with their batch keys) in one transaction."""
        if not results:
            return
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        rows = [_row(result, batch, now) for result, batch in results]
        for result, _ in results:
            self._index[result.file.id] = (result.rel_path, result.bytes)
            self._owners[result.rel_path] = result.file.id
        placeholders = ", ".join("?" * len(rows[0]))
        sql = f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES ({placeholders})"

        def write() -> None:
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany(sql, rows)

        async with self._lock:
            await anyio.to_thread.run_sync(write)

    async def forget(self, file_ids: Iterable[str]) -> None:
        """Remove entries whose files are gone from disk."""
        ids = [(i,) for i in file_ids]
        for (i,) in ids:
            entry = self._index.pop(i, None)
            if entry is not None:
                self._owners.pop(entry[0], None)

        def delete() -> None:
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany("DELETE FROM files WHERE id = ?", ids)

        if ids:
            async with self._lock:
                await anyio.to_thread.run_sync(delete)

    async def aclose(self) -> None:
        """Close the database."""
        async with self._lock:
            await anyio.to_thread.run_sync(self._conn.close)


async def read_manifest(dest: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Every file the manifest in ``dest`` records, ordered by path.

    Args:
        dest: The archive's destination folder.

    Returns:
        The entries; empty when ``dest`` has no manifest yet.
    """
    path = os.path.join(os.fspath(dest), STATE_DIR, MANIFEST_NAME)

    def read() -> list[ManifestEntry]:
        if not os.path.exists(path):
            return []
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            rows = conn.execute(f"SELECT {_COLUMNS} FROM files ORDER BY path").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return []  # a run (another process) has just created the file, not yet its table
        finally:
            conn.close()
        names = [c.strip() for c in _COLUMNS.split(",")]
        return [ManifestEntry(**dict(zip(names, row, strict=True))) for row in rows]

    return await anyio.to_thread.run_sync(read)
