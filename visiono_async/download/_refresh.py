"""The current signed URLs of one batch, re-fetched at most once per expired generation."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

from ._source import Batch, RemoteFile

__all__ = ["BatchURLs", "RefreshesExhausted"]


class RefreshesExhausted(Exception):
    """The batch was refreshed ``limit`` times in a row without any file succeeding."""


class BatchURLs:
    """Holds a batch's files by id and refreshes them, coalescing concurrent requests.

    Every fetch starts a new *generation*. A caller that saw generation ``g`` fail asks for
    ``refresh(g)``: the first such caller fetches, every other caller waiting on the same
    generation gets the result of that one fetch (or its error).

    Args:
        batch: The batch to (re-)fetch.
        on_fetch: Called after every completed fetch (counts API calls).
    """

    def __init__(self, batch: Batch, *, on_fetch: Callable[[str], None] | None = None) -> None:
        self.batch = batch
        self.generation = 0
        self.fetched_at = 0.0
        self._files: dict[str, RemoteFile] = {}
        self._lock = anyio.Lock()
        self._failed: tuple[int, BaseException] | None = None
        self._on_fetch = on_fetch
        self._fruitless = 0

    @property
    def key(self) -> str:
        """The batch's key."""
        return self.batch.key

    def files(self) -> list[RemoteFile]:
        """The files of the current generation."""
        return list(self._files.values())

    def get(self, file_id: str) -> tuple[int, RemoteFile | None]:
        """The current generation and the file's current entry (``None`` if it vanished)."""
        return self.generation, self._files.get(file_id)

    def succeeded(self, generation: int) -> None:
        """A file downloaded with the URLs of ``generation``: the current URLs work."""
        if generation == self.generation:
            self._fruitless = 0

    async def refresh(self, seen_generation: int, *, limit: int | None = None) -> None:
        """Fetch new URLs unless a newer generation than ``seen_generation`` exists.

        Args:
            seen_generation: The generation whose URL failed (0 for the first fetch).
            limit: Refuse once this many refreshes in a row brought no successful download,
                so URLs that no refresh can fix cost a bounded number of calls per batch.

        Raises:
            RefreshesExhausted: ``limit`` fruitless refreshes already happened.
            Exception: Whatever the batch's ``fetch`` raised, to every coalesced caller.
        """
        async with self._lock:
            if self.generation != seen_generation:
                return
            if self._failed is not None and self._failed[0] == seen_generation:
                raise self._failed[1]
            if limit is not None and self._fruitless >= limit:
                raise RefreshesExhausted(f"{self._fruitless} refreshes did not help")
            started = time.time()
            try:
                files = await self.batch.fetch()
                fresh = {f.id: f for f in files}
            except Exception as exc:
                self._failed = (seen_generation, exc)
                raise
            finally:
                if self._on_fetch is not None:
                    self._on_fetch(self.batch.key)
            self._files = fresh
            self.fetched_at = started
            if self.generation:
                self._fruitless += 1
            self.generation += 1

    def release(self) -> None:
        """Drop the files (the batch is done) so memory does not grow with batches."""
        self._files = {}
