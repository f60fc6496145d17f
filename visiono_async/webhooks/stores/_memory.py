"""The in-memory event store: the default, for one process."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timezone

import attrs

from .._events import WebhookEvent
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

__all__ = ["MemoryEventStore"]


@attrs.define
class _Record:
    stored: StoredEvent
    expires_at: float
    claimed_until: float | None = None


class MemoryEventStore(EventStore):
    """Events in a dict of the current process; lost on restart, not shared by replicas.

    Every operation completes without yielding to the event loop, which makes each one
    atomic among the tasks of the process.

    Args:
        max_events: Events kept per photo request.
        ttl: Seconds an event and its de-duplication marks are kept.
        clock: The time source, unix seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_events=max_events, ttl=ttl)
        self._clock = clock
        self._requests: dict[str, dict[str, _Record]] = {}  # request id -> digest -> record
        self._records: dict[str, _Record] = {}  # digest -> record
        self._seen: dict[str, tuple[str, float]] = {}  # "dlv:"/"dig:" key -> (digest, expiry)
        self._next_purge = 0.0
        self._broadcast = Broadcast()

    def __repr__(self) -> str:
        return f"MemoryEventStore(max_events={self.max_events}, ttl={self.ttl:g})"

    def _purge(self, now: float) -> None:
        # A full sweep costs O(stored); doing it at most every few seconds keeps adds cheap
        # while reads still skip anything expired.
        if now < self._next_purge:
            return
        self._next_purge = now + min(self.ttl, 5.0)
        self._seen = {k: v for k, v in self._seen.items() if v[1] > now}
        for digest, record in list(self._records.items()):
            if record.expires_at <= now:
                self._drop(digest)

    def _drop(self, digest: str) -> None:
        record = self._records.pop(digest, None)
        if record is None:
            return
        bucket = self._requests.get(record.stored.request_id)
        if bucket is not None:
            bucket.pop(digest, None)
            if not bucket:
                del self._requests[record.stored.request_id]

    def _live(self, digest: str, now: float) -> _Record | None:
        record = self._records.get(digest)
        return record if record is not None and record.expires_at > now else None

    def _seen_digest(self, key: str, now: float) -> str | None:
        entry = self._seen.get(key)
        return entry[0] if entry is not None and entry[1] > now else None

    async def add(self, event: WebhookEvent, *, lease: float | None = None) -> AddResult:
        now = self._clock()
        self._purge(now)
        digest = event.digest
        keys = [f"dig:{digest}"] + ([f"dlv:{event.delivery_id}"] if event.delivery_id else [])
        for key in keys:
            existing = self._seen_digest(key, now)
            if existing is not None:
                record = self._live(existing, now)
                return AddResult(created=False, stored=record.stored if record else None)
        request_id = namespace_of(event)
        stored = StoredEvent(
            event=event,
            request_id=request_id,
            received_at=datetime.fromtimestamp(now, tz=timezone.utc),
        )
        expires_at = now + self.ttl
        for key in keys:
            self._seen[key] = (digest, expires_at)
        record = _Record(stored, expires_at, now + lease if lease is not None else None)
        self._records[digest] = record
        bucket = self._requests.setdefault(request_id, {})
        bucket[digest] = record
        while len(bucket) > self.max_events:
            self._drop(next(iter(bucket)))
        self._broadcast.notify(request_id)
        return AddResult(created=True, stored=stored)

    async def _load(self, request_id: str) -> list[StoredEvent]:
        now = self._clock()
        bucket = self._requests.get(request_id, {})
        return [r.stored for r in bucket.values() if r.expires_at > now]

    async def claim(self, stored: StoredEvent, *, lease: float) -> bool:
        now = self._clock()
        record = self._live(stored.digest, now)
        if record is None or record.stored.status is EventStatus.HANDLED:
            return False
        if record.claimed_until is not None and record.claimed_until > now:
            return False
        record.claimed_until = now + lease
        return True

    def _finish(self, stored: StoredEvent, status: EventStatus, error: str | None) -> None:
        record = self._live(stored.digest, self._clock())
        if record is None:
            return
        record.stored = attrs.evolve(
            record.stored,
            status=status,
            attempts=record.stored.attempts + 1,
            last_error=error if error is not None else record.stored.last_error,
        )
        record.claimed_until = None

    async def mark_handled(self, stored: StoredEvent) -> None:
        self._finish(stored, EventStatus.HANDLED, None)

    async def mark_failed(self, stored: StoredEvent, error: BaseException | str) -> None:
        self._finish(stored, EventStatus.FAILED, describe_error(error))

    async def pending(self, *, limit: int = 100) -> list[StoredEvent]:
        now = self._clock()
        found = [
            r.stored
            for r in self._records.values()
            if r.expires_at > now
            and r.stored.status is not EventStatus.HANDLED
            and (r.claimed_until is None or r.claimed_until <= now)
        ]
        found.sort(key=lambda s: s.received_at)
        return found[:limit]

    def _changes(self, request_id: str) -> AbstractAsyncContextManager[Changes]:
        return nullcontext(BroadcastChanges(self._broadcast, request_id))
