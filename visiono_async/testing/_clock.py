"""The emulator clock (real time plus an offset moved by ``advance_time``) and ISO 8601 helpers."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from .._converter import parse_datetime

__all__ = ["Clock", "isoformat", "parse_iso"]


class Clock:
    """Unix time in seconds, shifted forward by :meth:`advance`."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """The emulator's current unix time."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward; it never moves backwards."""
        if seconds < 0:
            raise ValueError(f"advance_time needs seconds >= 0, got {seconds}")
        self._offset += seconds


def isoformat(timestamp: float) -> str:
    """``2026-11-22T12:00:00+00:00``: UTC, whole seconds."""
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).isoformat()


def parse_iso(value: str) -> float:
    """A unix timestamp from an ISO 8601 date or date-time; naive values are UTC.

    Raises:
        ValueError: ``value`` is not ISO 8601.
    """
    return parse_datetime(value.strip()).timestamp()
