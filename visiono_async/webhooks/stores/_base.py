"""The event-store contract every backend fulfils, and the parts they share.

A store keeps verified webhook events namespaced by photo request id, with the time each
was received, at most ``max_events`` per request (the oldest are dropped first) for ``ttl``
seconds. It de-duplicates by delivery id *and* by body digest: the ``X-Visiono-Delivery``
header is not signed, so a replayed body under a fresh delivery id must be caught too. The
de-duplication marks outlive eviction by ``max_events``: they last ``ttl`` seconds.

Each stored event also records whether its handler has run. A receiver *claims* an event
(a lease) before running the handler, then marks it handled or failed, so concurrent
deliveries of one event run the handler once, and an event whose handler raised stays in
:meth:`EventStore.pending` until it is handled.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol

import anyio
import attrs

from .._events import WebhookEvent

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_TTL",
    "UNSCOPED",
    "AddResult",
    "EventStatus",
    "EventStore",
    "StoredEvent",
    "namespace_of",
]

DEFAULT_MAX_EVENTS = 100
"""Events kept per photo request (the vendor's guidance: about 100)."""

DEFAULT_TTL = 24 * 60 * 60.0
"""Seconds an event (and its de-duplication marks) is kept: 24 hours."""

DEFAULT_WAIT_TIMEOUT = 60.0

UNSCOPED = "_unscoped"
"""The namespace of events that name neither a photo request nor a smart link."""

_MAX_ERROR_LENGTH = 500


def namespace_of(event: WebhookEvent) -> str:
    """The key a store files ``event`` under.

    The photo request id; for smart-link events (Workflow Mode included), the smart link
    id; else :data:`UNSCOPED`.
    """
    return event.photo_request_id or event.smart_link_id or UNSCOPED


class EventStatus(str, enum.Enum):
    """Where a stored event is in its handling."""

    PENDING = "pending"
    """Stored; the handler has not finished yet (it may be running under a claim)."""
    HANDLED = "handled"
    """The handler returned."""
    FAILED = "failed"
    """The handler raised; the event waits to be handled again."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class StoredEvent:
    """A webhook event as a store keeps it.

    Attributes:
        event: The typed event (for a duplicate, as first received).
        request_id: The namespace: the photo request id (see :func:`namespace_of`).
        received_at: When the store received it, aware UTC.
        status: Whether the handler has run.
        attempts: How many times a handler run has finished (handled or failed).
        last_error: The last handler failure, ``"ExceptionType: message"`` (truncated).
    """

    event: WebhookEvent
    request_id: str
    received_at: datetime
    status: EventStatus = EventStatus.PENDING
    attempts: int = 0
    last_error: str | None = None

    @property
    def digest(self) -> str:
        """The hex SHA-256 of the event's raw body: the event's key in its store."""
        return self.event.digest


@attrs.frozen
class AddResult:
    """What :meth:`EventStore.add` did.

    Attributes:
        created: True when the event was new and is now stored.
        stored: The stored event: the new one, or for a duplicate the one stored first.
            ``None`` for a duplicate whose original was since evicted.
    """

    created: bool
    stored: StoredEvent | None

    @property
    def duplicate(self) -> bool:
        """True when the delivery id or the body was seen before."""
        return not self.created


EventFilter = Collection[str | type[WebhookEvent]]
"""Event names (``"photo_request.submitted"``) or event classes (``PhotoRequestSubmitted``)."""


def matches(stored: StoredEvent, events: EventFilter | None, after: datetime | None) -> bool:
    """Whether ``stored`` is one of ``events`` and its signed timestamp (or, for a body with
    none, the time it was received) is at/after ``after``."""
    if after is not None:
        if after.tzinfo is None:
            raise ValueError("'after' must be an aware datetime (e.g. photo_request.created_at)")
        if (stored.event.timestamp or stored.received_at) < after:
            return False
    if events is None:
        return True
    return any(
        stored.event.type == wanted if isinstance(wanted, str) else isinstance(stored.event, wanted)
        for wanted in events
    )


def describe_error(error: BaseException | str) -> str:
    """A short description of a handler failure to keep with the event."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:_MAX_ERROR_LENGTH]


class Changes(Protocol):
    """A subscription to one request's additions, opened before a store is read."""

    async def wait(self) -> None:
        """Return when the request may have a new event (spurious wake-ups are fine)."""


class EventStore(abc.ABC):
    """The interface of every event store; use one as an async context manager.

    Attributes:
        max_events: Events kept per photo request; the oldest are dropped first.
        ttl: Seconds an event and its de-duplication marks are kept.
    """

    max_events: int
    ttl: float

    def __init__(self, *, max_events: int = DEFAULT_MAX_EVENTS, ttl: float = DEFAULT_TTL) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.max_events = max_events
        self.ttl = ttl

    @abc.abstractmethod
    async def add(self, event: WebhookEvent, *, lease: float | None = None) -> AddResult:
        """Store ``event`` unless its delivery id or its body was seen before; atomic.

        Args:
            event: A verified event (from ``construct_event``).
            lease: When given, a newly stored event is claimed (see :meth:`claim`) for
                this many seconds in the same atomic step.

        Returns:
            Whether it was new, and the stored event.
        """

    @abc.abstractmethod
    async def _load(self, request_id: str) -> list[StoredEvent]:
        """Every stored event of one photo request, oldest first."""

    @abc.abstractmethod
    async def claim(self, stored: StoredEvent, *, lease: float) -> bool:
        """Take the right to run the handler for ``stored`` for ``lease`` seconds; atomic.

        Returns:
            False when the event is handled, gone, or claimed by someone else whose lease
            has not run out.
        """

    @abc.abstractmethod
    async def mark_handled(self, stored: StoredEvent) -> None:
        """Record that the handler returned, releasing the claim."""

    @abc.abstractmethod
    async def mark_failed(self, stored: StoredEvent, error: BaseException | str) -> None:
        """Record that the handler raised ``error``, releasing the claim."""

    @abc.abstractmethod
    async def pending(self, *, limit: int = 100) -> list[StoredEvent]:
        """Events of any request whose handler has not succeeded and that nobody has claimed.

        Oldest first, at most ``limit``.
        """

    @abc.abstractmethod
    def _changes(self, request_id: str) -> AbstractAsyncContextManager[Changes]:
        """Subscribe to additions to ``request_id`` (opened before reading, so none is missed)."""

    async def list_events(
        self,
        request_id: str,
        *,
        events: EventFilter | None = None,
        after: datetime | None = None,
    ) -> list[StoredEvent]:
        """The stored events of one photo request that match, oldest first.

        Args:
            request_id: The photo request id.
            events: Only these event names or classes; all when ``None``.
            after: Only events whose signed timestamp is at or after this aware datetime
                (the vendor's rule: ignore events older than the request).
        """
        return [s for s in await self._load(request_id) if matches(s, events, after)]

    async def wait_for(
        self,
        request_id: str,
        *,
        events: EventFilter | None = None,
        after: datetime | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
    ) -> StoredEvent:
        """The first matching event of a photo request, waiting for one if none is stored.

        The vendor's polling pattern done right: only that request's events, only those at
        or after ``after``, and no polling loop (the store wakes the waiter on each add).

        Args:
            request_id: The photo request id.
            events: Event names or classes to wait for; any when ``None``.
            after: Ignore events whose signed timestamp is before this aware datetime,
                e.g. the photo request's ``created_at``.
            timeout: Seconds to wait; ``None`` waits forever.

        Returns:
            The oldest matching stored event.

        Raises:
            TimeoutError: No matching event arrived within ``timeout``.
        """
        with anyio.fail_after(timeout):
            async with self._changes(request_id) as changes:
                while True:
                    found = await self.list_events(request_id, events=events, after=after)
                    if found:
                        return found[0]
                    await changes.wait()

    async def aclose(self) -> None:  # noqa: B027 - a no-op is the right default
        """Release connections; the in-memory store has none."""

    async def __aenter__(self) -> EventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Broadcast:
    """Wakes in-process waiters of one request when an event is added to it."""

    def __init__(self) -> None:
        self._waiters: dict[str, anyio.Event] = {}

    def notify(self, request_id: str) -> None:
        """Wake every waiter of ``request_id``."""
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None:
            waiter.set()

    def listen(self, request_id: str) -> anyio.Event:
        """The event that the next :meth:`notify` of ``request_id`` sets."""
        waiter = self._waiters.get(request_id)
        if waiter is None:
            waiter = self._waiters[request_id] = anyio.Event()
        return waiter


class BroadcastChanges:
    """:class:`Changes` from a :class:`Broadcast`, optionally also waking every
    ``poll_interval`` seconds to notice additions by other processes."""

    def __init__(
        self, broadcast: Broadcast, request_id: str, poll_interval: float | None = None
    ) -> None:
        self._broadcast = broadcast
        self._request_id = request_id
        self._poll_interval = poll_interval
        self._waiter = broadcast.listen(request_id)

    async def wait(self) -> None:
        with anyio.move_on_after(self._poll_interval):
            await self._waiter.wait()
        # Listen again before the caller re-reads the store, so no addition slips between.
        self._waiter = self._broadcast.listen(self._request_id)
