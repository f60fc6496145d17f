"""Client-side rate limiting: what the server last said, and a pacer that keeps calls under it."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Literal, Protocol

import anyio
import attrs

from ._config import RateLimit

__all__ = [
    "Budget",
    "Pacer",
    "RateLimitInfo",
    "WaitListener",
    "WaitNotice",
    "WaitReason",
    "parse_retry_after",
]

WaitReason = Literal["rate_limit", "server_reset", "retry_backoff"]
"""Why the client waits: its own pacing under the configured limits (``rate_limit``), the
server said its window is used up (``server_reset``: a 429 or ``X-RateLimit-Remaining: 0``),
or a backoff before resending a failed call (``retry_backoff``)."""


@attrs.frozen
class WaitNotice:
    """A wait the client is about to make before it sends an API call.

    Listeners added with :meth:`visiono_async.VisionoClient.add_wait_listener` receive one
    for every wait, however short; show the long ones ("waiting 42 s for the API rate
    limit").

    Attributes:
        reason: Why it waits (see :data:`WaitReason`).
        seconds: How long it will wait.
        until: When the wait ends (aware UTC).
        method: The HTTP method of the call that waits.
        path: The API path of the call that waits.
    """

    reason: WaitReason
    seconds: float
    until: datetime
    method: str
    path: str

    @classmethod
    def starting_now(cls, reason: WaitReason, seconds: float, method: str, path: str) -> WaitNotice:
        """A notice for a wait of ``seconds`` that starts now."""
        until = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        return cls(reason, seconds, until, method, path)


WaitListener = Callable[[WaitNotice], None]
"""A function called with each :class:`WaitNotice`; it must not block."""


@attrs.frozen
class RateLimitInfo:
    """The last ``X-RateLimit-*`` values the server sent.

    Attributes:
        limit: Calls allowed in the current window.
        remaining: Calls left in the current window.
        reset: When the window resets (aware UTC).
        observed_at: When these values were received (aware UTC).
    """

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None
    observed_at: datetime | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo | None:
        """Parse the headers; None when the response carries none of them."""
        limit = _int_header(headers, "X-RateLimit-Limit")
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        # Unix seconds; a fraction is kept (the emulator's scaled windows send one).
        reset_raw = _float_header(headers, "X-RateLimit-Reset")
        if limit is None and remaining is None and reset_raw is None:
            return None
        reset = None
        if reset_raw is not None:
            try:
                reset = datetime.fromtimestamp(reset_raw, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                reset = None
        return cls(limit, remaining, reset, datetime.now(timezone.utc))

    def seconds_until_reset(self, now: float | None = None) -> float | None:
        """Seconds from ``now`` (unix time) until the window resets, never negative."""
        if self.reset is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, self.reset.timestamp() - current)


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    number = _float_header(headers, name)
    return None if number is None else int(number)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class Budget(Protocol):
    """Where a session draws its calls from: a :class:`Pacer` or a shared Redis budget."""

    async def acquire(
        self,
        max_wait: float,
        before_wait: Callable[[float, WaitReason], None] | None = None,
        *,
        max_reset_wait: float | None = None,
    ) -> float:
        """Wait for a free slot and claim it; return how long it waited."""
        ...

    async def hold(self, seconds: float) -> None:
        """Hold every call for ``seconds``: the server said its window is used up."""
        ...

    async def aclose(self) -> None:
        """Release what the budget holds open (connections)."""
        ...


class Pacer:
    """Spaces out calls so that no window of the configured limits is exceeded.

    It keeps the send times of recent calls (a sliding log), so it is never more permissive
    than the server's fixed windows. Waiters are served first come, first served. When the
    server reports that nothing remains in its window (other processes share the key), the
    pacer also holds every call until the server's reset time.
    """

    def __init__(self, limits: RateLimit | Sequence[tuple[int, float]]) -> None:
        windows = limits.all_windows() if isinstance(limits, RateLimit) else list(limits)
        self._windows = sorted(windows, key=lambda w: w[1])
        longest = max((calls for calls, _ in self._windows), default=0)
        self._sent: deque[float] = deque(maxlen=max(longest, 1))
        self._lock = anyio.Lock()
        self._blocked_until = 0.0

    def _delay(self, now: float) -> float:
        return max(self._blocked_until - now, self.window_delay(range(len(self._windows)), now))

    def window_delay(self, windows: Iterable[int], now: float | None = None) -> float:
        """Seconds until a call fits the windows with these indexes (the limits in order of
        their length, shortest first), without claiming anything and ignoring a block."""
        now = anyio.current_time() if now is None else now
        delay = 0.0
        sent = self._sent
        for index in windows:
            calls, seconds = self._windows[index]
            if len(sent) >= calls:
                # The call `calls` sends ago must be older than the window.
                delay = max(delay, sent[-calls] + seconds - now)
        return delay

    async def acquire(
        self,
        max_wait: float,
        before_wait: Callable[[float, WaitReason], None] | None = None,
        *,
        max_reset_wait: float | None = None,
    ) -> float:
        """Wait for a free slot and claim it; return how long it waited.

        Args:
            max_wait: The longest wait allowed for the pacer's own spacing.
            before_wait: Called with the delay and its reason just before a wait.
            max_reset_wait: The longest wait allowed when the server's reset is what the
                call waits for (``max_wait`` when None).

        Raises:
            PacingTooLongError: the wait would exceed its limit (nothing is claimed).
        """
        async with self._lock:
            now = anyio.current_time()
            delay = self._delay(now)
            blocked = delay > 0 and self._blocked_until - now >= delay
            reason: WaitReason = "server_reset" if blocked else "rate_limit"
            limit = max_wait if not blocked or max_reset_wait is None else max_reset_wait
            if delay > limit:
                raise PacingTooLongError(delay, reason, limit)
            if delay > 0:
                if before_wait is not None:
                    before_wait(delay, reason)
                await anyio.sleep(delay)
            self._sent.append(anyio.current_time())
            return delay

    def note_sent(self) -> None:
        """Count a call sent now that another budget paced (the shared one)."""
        self._sent.append(anyio.current_time())

    def block_for(self, seconds: float) -> None:
        """Hold every call for ``seconds`` (the server said its window is used up)."""
        until = anyio.current_time() + seconds
        self._blocked_until = max(self._blocked_until, until)

    async def hold(self, seconds: float) -> None:
        """Same as :meth:`block_for` (the :class:`Budget` interface)."""
        self.block_for(seconds)

    async def aclose(self) -> None:
        """Nothing to release."""

    def sent_within(self, seconds: float) -> list[float]:
        """Ages in seconds of the recorded sends younger than ``seconds``, oldest first."""
        now = anyio.current_time()
        return [now - t for t in self._sent if now - t < seconds]


class PacingTooLongError(Exception):
    """Internal: the pacer would have to wait longer than allowed."""

    def __init__(self, delay: float, reason: WaitReason = "rate_limit", limit: float = 0.0) -> None:
        super().__init__(f"pacing would wait {delay:.1f}s")
        self.delay = delay
        self.reason = reason
        self.limit = limit
