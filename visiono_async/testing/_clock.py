"""The emulator clock (real time, moved forward by ``advance``, optionally frozen) and ISO 8601 helpers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import anyio

from .._converter import parse_datetime

__all__ = ["EmulatorClock", "isoformat", "parse_iso"]


class EmulatorClock:
    """The emulator's idea of now: unix time in seconds, that tests can move and freeze.

    Running (the default), it is the real clock plus every :meth:`advance`. Frozen, it stands
    still until :meth:`advance` moves it, so time-dependent behaviour (request and URL expiry,
    ``updated_at``, webhook retry schedules) is exact and instant in tests::

        emulator.clock.freeze()
        ...  # create a photo request
        emulator.clock.advance(3600)  # exactly one hour later, at once

    Waits on the emulator clock (the webhook retry schedule) end when the clock reaches
    their time, whether it got there by running or by :meth:`advance`.

    What it does not move: nginx storage checks signed URLs against the real clock, and the
    emulator's rate-limit windows run on the real clock (so that a client's pacing, which
    reads ``X-RateLimit-Reset``, can be tested against it).

    Args:
        frozen_at: Start frozen at this unix time (or aware datetime); ``None`` (the
            default) starts running at real time.
    """

    def __init__(self, frozen_at: float | datetime | None = None) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._changed: anyio.Event | None = None
        self._listeners: list[Callable[[], None]] = []
        self._waits: list[float] = []
        self._wait_added: anyio.Event | None = None
        if frozen_at is not None:
            self._frozen_at = _unix(frozen_at)

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "running"
        return f"<EmulatorClock {state} at {isoformat(self.now())}>"

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still between calls to :meth:`advance`."""
        return self._frozen_at is not None

    def now(self) -> float:
        """The emulator's current unix time."""
        if self._frozen_at is not None:
            return self._frozen_at
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``; it never moves backwards.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"advance_time needs seconds >= 0, got {seconds}")
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds
        self._wake()

    def freeze(self, at: float | datetime | None = None) -> None:
        """Stop the clock, at ``at`` (unix time or an aware datetime) or at its current time.

        Raises:
            ValueError: ``at`` is a naive datetime, or earlier than the clock's current time
                (the clock never moves backwards).
        """
        now = self.now()
        when = now if at is None else _unix(at)
        if when < now:
            raise ValueError("the emulator clock never moves backwards")
        self._frozen_at = when
        self._wake()

    def unfreeze(self) -> None:
        """Let the clock run again with real time, from where it stood."""
        if self._frozen_at is None:
            return
        self._offset = self._frozen_at - time.time()
        self._frozen_at = None
        self._wake()

    @property
    def next_wait(self) -> float | None:
        """The earliest clock time a wait on this clock ends at, or ``None`` when none waits.

        With a frozen clock, ``clock.advance(clock.next_wait - clock.now())`` lets exactly
        the next scheduled thing happen (a webhook retry, say).
        """
        return min(self._waits, default=None)

    async def next_wait_ahead(self) -> float:
        """Wait until something waits on this clock for a time still ahead; that time.

        For tests on a frozen clock: ``clock.advance(await clock.next_wait_ahead() -
        clock.now())`` lets the next scheduled thing happen once it is scheduled.
        """
        while True:
            now = self.now()
            ahead = [when for when in self._waits if when > now]
            if ahead:
                return min(ahead)
            if self._wait_added is None:
                self._wait_added = anyio.Event()
            await self._wait_added.wait()

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has moved ``seconds`` forward (by running or by :meth:`advance`)."""
        deadline = self.now() + seconds
        self._waits.append(deadline)
        added, self._wait_added = self._wait_added, None
        if added is not None:
            added.set()
        try:
            while (left := deadline - self.now()) > 0:
                if self._changed is None:
                    self._changed = anyio.Event()
                changed = self._changed
                if self._frozen_at is not None:
                    await changed.wait()
                else:
                    with anyio.move_on_after(left):
                        await changed.wait()
        finally:
            self._waits.remove(deadline)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every move of the clock (the emulator expires requests)."""
        self._listeners.append(listener)

    def _wake(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
        for listener in self._listeners:
            listener()


def _unix(at: float | datetime) -> float:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("the emulator clock needs an aware datetime (or unix seconds)")
        return at.timestamp()
    return float(at)


def isoformat(timestamp: float) -> str:
    """``2026-11-22T12:00:00+00:00``: UTC, whole seconds."""
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).isoformat()


def parse_iso(value: str) -> float:
    """A unix timestamp from an ISO 8601 date or date-time; naive values are UTC.

    Raises:
        ValueError: ``value`` is not ISO 8601.
    """
    return parse_datetime(value.strip()).timestamp()
