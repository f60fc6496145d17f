"""Waiting for the API's budget: past the hourly limit a bulk archive waits, it does not fail.

When a batch's ``download-urls`` call is refused for the rate limit (``RateLimitError``: the
server's 429, or the client's own pacing needing longer than its ``max_wait``), the signing
tasks wait until the budget is back, the downloads already signed going on meanwhile.
Progress events say that the run waits and until when. With ``max_wait`` the run waits at
most that long in all; a wait past it stops the run cleanly (``ArchiveError`` with reason
``api_budget``), and a re-run resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import anyio

from .._exceptions import RateLimitError
from ._report import ArchiveError

__all__ = ["ApiBudget"]

_UNKNOWN_WAIT = 60.0
"""Seconds to wait when a refusal does not say how long (no ``Retry-After``)."""


class ApiBudget:
    """The run's waits for the API budget, shared by its signing tasks.

    Args:
        max_wait: Seconds the run may wait in all; ``None``: as long as it takes.
        announce: Called with ``(until, message)`` when a new wait starts.
    """

    def __init__(
        self, max_wait: float | None, announce: Callable[[dt.datetime, str], None]
    ) -> None:
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must be >= 0 (or None)")
        self.max_wait = max_wait
        self.waited = 0.0
        """Seconds the run has waited for the budget so far."""
        self.stopped: ArchiveError | None = None
        """Set when a wait would have passed ``max_wait``: the run signs no more batches."""
        self._announce = announce
        self._until = 0.0  # time.monotonic() at which the current wait ends

    async def wait(self, refusal: RateLimitError, key: str) -> bool:
        """Wait until the budget is back; ``False`` when that would pass ``max_wait``.

        Args:
            refusal: The error that refused the call (its ``retry_after`` says how long).
            key: The batch whose call was refused (for the message).
        """
        if self.stopped is not None:
            return False
        seconds = refusal.retry_after if refusal.retry_after is not None else _UNKNOWN_WAIT
        now = time.monotonic()
        end = max(self._until, now + max(seconds, 0.0))
        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=end - now)
        extra = max(0.0, end - max(now, self._until))  # only time no other task waits for
        if self.max_wait is not None and self.waited + extra > self.max_wait + 1e-9:
            self.stopped = ArchiveError(
                f"the API budget is used up until {until:%Y-%m-%d %H:%M:%S} UTC, past "
                f"max_wait={self.max_wait:g}s (waited {self.waited:.0f}s); stopped cleanly: "
                "run again then and the archive resumes where it stopped",
                reason="api_budget",
            )
            return False
        if extra > 0:
            self._until = end
            self.waited += extra
            self._announce(until, f"the API budget is used up ({key} refused: {refusal.message})")
        await anyio.sleep(end - now)
        return True
