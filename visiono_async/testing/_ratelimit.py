"""Per-key fixed-window rate limits (a minute and an hour window) on the real clock.

``window_scale`` shortens both windows for tests (0.02: a 1.2 s "minute"); that, and the
fractional reset and ``Retry-After`` values it then sends, are the emulator's choice.
"""

from __future__ import annotations

import math
import time

import attrs

__all__ = ["RateDecision", "RateLimiter"]


def _number(value: float) -> str:
    """Whole numbers without a fraction (Visiono's form), others with milliseconds."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


@attrs.frozen
class RateDecision:
    """The outcome of one check, ready to become headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (and ``Retry-After`` when refused)."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": _number(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = _number(self.retry_after)
        return headers


@attrs.define
class _Window:
    length: float
    start: float = -math.inf
    count: int = 0

    def roll(self, now: float) -> None:
        # Windows start at the first request after the previous one ended, so a test
        # never straddles a boundary it did not ask for.
        if now >= self.start + self.length:
            self.start = now
            self.count = 0

    def reset_at(self, now: float) -> float:
        return self.start + self.length if self.count else now + self.length


class RateLimiter:
    """Counts requests per bucket (an API key id) in a 60 s and a 3600 s window.

    Uses the real clock, not the emulator clock: ``advance_time`` does not refill buckets,
    so client-side pacing can be tested in real time.
    """

    def __init__(self, per_minute: int, per_hour: int, window_scale: float = 1.0) -> None:
        if per_minute < 1 or per_hour < 1:
            raise ValueError("rate limits must be at least 1 request per window")
        if not 0 < window_scale <= 1:
            raise ValueError(f"window_scale must be in (0, 1], got {window_scale!r}")
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.window_scale = window_scale
        self._buckets: dict[str, tuple[_Window, _Window]] = {}

    def _windows(self, bucket: str, now: float) -> tuple[_Window, _Window]:
        windows = self._buckets.get(bucket)
        if windows is None:
            scale = self.window_scale
            windows = self._buckets[bucket] = (_Window(60.0 * scale), _Window(3600.0 * scale))
        for window in windows:
            window.roll(now)
        return windows

    def hit(self, bucket: str) -> RateDecision:
        """Count one request unless a window is full."""
        now = time.time()
        minute, hour = self._windows(bucket, now)
        allowed = minute.count < self.per_minute and hour.count < self.per_hour
        if allowed:
            minute.count += 1
            hour.count += 1
        return self._decision(minute, hour, now, allowed)

    def peek(self, bucket: str) -> RateDecision:
        """The current state without counting a request."""
        now = time.time()
        minute, hour = self._windows(bucket, now)
        return self._decision(minute, hour, now, allowed=True)

    def _decision(self, minute: _Window, hour: _Window, now: float, allowed: bool) -> RateDecision:
        remaining = max(0, min(self.per_minute - minute.count, self.per_hour - hour.count))
        minute_reset = minute.reset_at(now)
        blocking = hour if hour.count >= self.per_hour else minute
        if self.window_scale == 1.0:
            retry_after: float = max(1, math.ceil(blocking.reset_at(now) - now))
            reset: float = math.ceil(minute_reset)
        else:
            # Scaled windows (the emulator's choice, for tests) last a fraction of a minute:
            # whole seconds would be too coarse, so both carry milliseconds.
            retry_after = max(0.001, round(blocking.reset_at(now) - now, 3))
            reset = round(minute_reset, 3)
        return RateDecision(
            allowed=allowed,
            limit=self.per_minute,
            remaining=remaining,
            reset=reset,
            retry_after=retry_after,
        )
