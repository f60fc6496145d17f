"""The SQLite event store: a file that survives restarts, stdlib only.

Every query runs in a worker thread (``anyio.to_thread``) on one connection, so the event
loop never waits on disk. Writes use ``BEGIN IMMEDIATE`` transactions, which makes
de-duplication atomic even when several processes share the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._events import WebhookEvent, parse_event
from ._base import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_TTL,
    AddResult,
    Broadcast,
    BroadcastChanges,
    Changes,
    EventStatus,
    EventStore,
    StoredEvent,
    describe_error,
    namespace_of,
)

_OPEN_TIMEOUT = 10.0

__all__ = ["SQLiteEventStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visiono_events (
    digest        TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    raw_body      BLOB NOT NULL,
    delivery_id   TEXT,
    tenant_id     TEXT,
    received_at   REAL NOT NULL,
    expires_at    REAL NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    claimed_until REAL
);
CREATE INDEX IF NOT EXISTS visiono_events_by_request
    ON visiono_events (request_id, received_at);
CREATE INDEX IF NOT EXISTS visiono_events_by_expiry ON visiono_events (expires_at);
CREATE TABLE IF NOT EXISTS visiono_seen (
    key        TEXT PRIMARY KEY,
    digest     TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS visiono_seen_by_expiry ON visiono_seen (expires_at);
"""

_COLUMNS = "digest, request_id, raw_body, delivery_id, tenant_id, received_at, status, attempts, last_error"


class SQLiteEventStore(EventStore):
    """Events in an SQLite file: they survive restarts, and processes may share the file.

    ``wait_for`` wakes at once for events added through this object, and checks every
    ``poll_interval`` seconds for events other processes added to the file.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        max_events: Events kept per photo request.
        ttl: Seconds an event and its de-duplication marks are kept.
        poll_interval: How often ``wait_for`` looks for other processes' additions.
        clock: The time source, unix seconds (tests pass a fake one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        ttl: float = DEFAULT_TTL,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_events=max_events, ttl=ttl)
        self._path = os.fspath(path)
        self._poll_interval = poll_interval
        self._clock = clock
        self._lock = threading.Lock()  # one statement sequence at a time on the connection
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._broadcast = Broadcast()

    def __repr__(self) -> str:
        return f"SQLiteEventStore({self._path!r}, max_events={self.max_events}, ttl={self.ttl:g})"

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the SQLiteEventStore is closed")
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        # Switching a new database to WAL answers "database is locked" at once, without the
        # busy timeout, while another process or replica is opening it too; retry briefly.
        deadline = time.monotonic() + _OPEN_TIMEOUT
        while True:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(_OPEN_TIMEOUT * 1000)}")
                if self._path != ":memory:":
                    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
                    if str(mode).lower() != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # a worker thread: blocking here does not stall the loop
                continue
            return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work() -> T:
            with self._lock:
                return fn(self._connection())

        return await anyio.to_thread.run_sync(work)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(transaction)

    def _stored(self, row: tuple[Any, ...], event: WebhookEvent | None = None) -> StoredEvent:
        _, request_id, raw_body, delivery_id, tenant_id, received_at, status, attempts, error = row
        if event is None:
            event = parse_event(bytes(raw_body), delivery_id=delivery_id, tenant_id=tenant_id)
        return StoredEvent(
            event=event,
            request_id=request_id,
            received_at=datetime.fromtimestamp(received_at, tz=timezone.utc),
            status=EventStatus(status),
            attempts=attempts,
            last_error=error,
        )

    async def add(self, event: WebhookEvent, *, lease: float | None = None) -> AddResult:
        digest = event.digest
        keys = [f"dig:{digest}"] + ([f"dlv:{event.delivery_id}"] if event.delivery_id else [])
        request_id = namespace_of(event)

        def add(conn: sqlite3.Connection) -> tuple[bool, tuple[Any, ...] | None]:
            now = self._clock()
            conn.execute("DELETE FROM visiono_seen WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM visiono_events WHERE expires_at <= ?", (now,))
            for key in keys:
                seen = conn.execute(
                    "SELECT digest FROM visiono_seen WHERE key = ?", (key,)
                ).fetchone()
                if seen is not None:
                    row = conn.execute(
                        f"SELECT {_COLUMNS} FROM visiono_events WHERE digest = ?", (seen[0],)
                    ).fetchone()
                    return False, row
            expires_at = now + self.ttl
            conn.executemany(
                "INSERT INTO visiono_seen (key, digest, expires_at) VALUES (?, ?, ?)",
                [(key, digest, expires_at) for key in keys],
            )
            row = (digest, request_id, event.raw_body, event.delivery_id, event.tenant_id, now)
            conn.execute(
                "INSERT INTO visiono_events (digest, request_id, raw_body, delivery_id,"
                " tenant_id, received_at, expires_at, claimed_until)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, expires_at, now + lease if lease is not None else None),
            )
            conn.execute(
                "DELETE FROM visiono_events WHERE request_id = ? AND digest NOT IN"
                " (SELECT digest FROM visiono_events WHERE request_id = ?"
                "  ORDER BY received_at DESC, rowid DESC LIMIT ?)",
                (request_id, request_id, self.max_events),
            )
            return True, (*row, EventStatus.PENDING.value, 0, None)

        created, row = await self._write(add)
        if not created:
            return AddResult(created=False, stored=self._stored(row) if row else None)
        assert row is not None
        self._broadcast.notify(request_id)
        return AddResult(created=True, stored=self._stored(row, event))

    async def _load(self, request_id: str) -> list[StoredEvent]:
        def load(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                f"SELECT {_COLUMNS} FROM visiono_events WHERE request_id = ? AND expires_at > ?"
                " ORDER BY received_at, rowid",
                (request_id, self._clock()),
            ).fetchall()

        return [self._stored(row) for row in await self._run(load)]

    async def claim(self, stored: StoredEvent, *, lease: float) -> bool:
        def claim(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = conn.execute(
                "UPDATE visiono_events SET claimed_until = ?"
                " WHERE digest = ? AND expires_at > ? AND status != 'handled'"
                " AND (claimed_until IS NULL OR claimed_until <= ?)",
                (now + lease, stored.digest, now, now),
            )
            return cursor.rowcount == 1

        return await self._write(claim)

    async def _finish(self, stored: StoredEvent, status: EventStatus, error: str | None) -> None:
        def finish(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE visiono_events SET status = ?, attempts = attempts + 1,"
                " last_error = COALESCE(?, last_error), claimed_until = NULL WHERE digest = ?",
                (status.value, error, stored.digest),
            )

        await self._write(finish)

    async def mark_handled(self, stored: StoredEvent) -> None:
        await self._finish(stored, EventStatus.HANDLED, None)

    async def mark_failed(self, stored: StoredEvent, error: BaseException | str) -> None:
        await self._finish(stored, EventStatus.FAILED, describe_error(error))

    async def pending(self, *, limit: int = 100) -> list[StoredEvent]:
        def pending(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            now = self._clock()
            return conn.execute(
                f"SELECT {_COLUMNS} FROM visiono_events WHERE expires_at > ?"
                " AND status != 'handled' AND (claimed_until IS NULL OR claimed_until <= ?)"
                " ORDER BY received_at, rowid LIMIT ?",
                (now, now, limit),
            ).fetchall()

        return [self._stored(row) for row in await self._run(pending)]

    def _changes(self, request_id: str) -> AbstractAsyncContextManager[Changes]:
        return nullcontext(BroadcastChanges(self._broadcast, request_id, self._poll_interval))

    async def aclose(self) -> None:
        """Close the database connection (waiting for a running query to finish)."""

        def close() -> None:
            with self._lock:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await anyio.to_thread.run_sync(close)
