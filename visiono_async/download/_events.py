"""``iter_archive``: a running archive's progress events as a bounded async iterator."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterable

import aiohttp
import anyio
import attrs

from .._config import RetryPolicy
from .._selection import Selection
from ._fetch import FetchSettings
from ._paths import DEFAULT_TEMPLATE
from ._pipeline import _LISTENER_ROOM, ArchiveClient, Variant, archive
from ._progress import ProgressEvent
from ._report import ArchiveReport
from ._source import Source
from ._transport import StorageTransport

__all__ = ["ArchiveEvents", "iter_archive"]

_EVENTS_BUFFER = 256


class ArchiveEvents:
    """The progress events of a running archive, as an async iterator.

    Returned by ``iter_archive``; ``report`` is set once the iteration has finished. The
    buffer is bounded: while ``max_buffered`` events wait for the reader, no new file
    starts (``"bytes"`` events in a row are merged into one, their totals kept), so a
    reader that falls behind slows the run down rather than filling memory.

    Attributes:
        report: The run's report, once it has ended.
        max_buffered: Events waiting for the reader at which new files wait.
    """

    def __init__(self, max_buffered: int = _EVENTS_BUFFER) -> None:
        self.report: ArchiveReport | None = None
        self.max_buffered = max_buffered
        self.peak = 0
        """The most events that ever waited for the reader."""
        self._queue: collections.deque[ProgressEvent] = collections.deque()
        self._arrived = anyio.Event()
        self._taken = anyio.Event()
        self._closed = False

    @property
    def buffered(self) -> int:
        """Events waiting for the reader now."""
        return len(self._queue)

    def _put(self, event: ProgressEvent) -> None:
        queue = self._queue
        if event.kind == "bytes" and queue and queue[-1].kind == "bytes":
            event = attrs.evolve(event, bytes=queue[-1].bytes + event.bytes)
            queue[-1] = event
        else:
            queue.append(event)
            self.peak = max(self.peak, len(queue))
        self._arrived.set()

    def _close(self) -> None:
        self._closed = True
        self._arrived.set()

    async def _room(self) -> None:
        while len(self._queue) >= self.max_buffered and not self._closed:
            if self._taken.is_set():
                self._taken = anyio.Event()
            await self._taken.wait()

    def __aiter__(self) -> ArchiveEvents:
        return self

    async def __anext__(self) -> ProgressEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            if self._arrived.is_set():
                self._arrived = anyio.Event()
            await self._arrived.wait()
        event = self._queue.popleft()
        self._taken.set()
        return event


@contextlib.asynccontextmanager
async def iter_archive(
    client: ArchiveClient | None,
    dest: str | os.PathLike[str],
    selection: Selection | None = None,
    *,
    photo_requests: Iterable[str] | None = None,
    smart_links: Iterable[str] | None = None,
    status: str | None = None,
    created_after: dt.datetime | dt.date | str | None = None,
    created_before: dt.datetime | dt.date | str | None = None,
    is_active: bool | None = None,
    tags: Iterable[str] | None = None,
    source: Source | None = None,
    concurrency: int = 16,
    variant: Variant = "original",
    template: str = DEFAULT_TEMPLATE,
    sidecar: bool = False,
    fsync: bool = False,
    progress: bool = False,
    lookahead: int = 4,
    refresh_margin: float = 60.0,
    retry: RetryPolicy | None = None,
    max_attempts: int | None = None,
    backoff: float | None = None,
    read_timeout: float = 60.0,
    file_timeout: float | None = None,
    chunk_size: int = 512 * 1024,
    http: aiohttp.ClientSession | None = None,
    transport: StorageTransport | None = None,
    settings: FetchSettings | None = None,
    max_wait: float | None = None,
    shared_dest: bool = False,
    buffer: int = _EVENTS_BUFFER,
) -> AsyncIterator[ArchiveEvents]:
    """Run ``archive`` in the background and iterate over its progress events.

    Example::

        async with iter_archive(client, "photos/", photo_requests=[pr_id]) as events:
            async for event in events:
                if event.kind == "file_done":
                    print(event.path)
        print(events.report)

    The options are ``archive()``'s, but ``on_progress`` (the events are what this
    yields) and with ``buffer`` added; each means what it means there.

    Args:
        client: As for ``archive``.
        dest: As for ``archive``.
        selection: As for ``archive``.
        photo_requests: As for ``archive``.
        smart_links: As for ``archive``.
        status: As for ``archive``.
        created_after: As for ``archive``.
        created_before: As for ``archive``.
        is_active: As for ``archive``.
        tags: As for ``archive``.
        source: As for ``archive``.
        concurrency: As for ``archive``.
        variant: As for ``archive``.
        template: As for ``archive``.
        sidecar: As for ``archive``.
        fsync: As for ``archive``.
        progress: As for ``archive``.
        lookahead: As for ``archive``.
        refresh_margin: As for ``archive``.
        retry: As for ``archive``.
        max_attempts: As for ``archive``.
        backoff: As for ``archive``.
        read_timeout: As for ``archive``.
        file_timeout: As for ``archive``.
        chunk_size: As for ``archive``.
        http: As for ``archive``.
        transport: As for ``archive``.
        settings: As for ``archive``.
        max_wait: As for ``archive``.
        shared_dest: As for ``archive``.
        buffer: Events that may wait for the reader before new files wait too.

    Yields:
        The events (a bounded buffer: a slow reader slows the run); ``report`` is filled
        in when the run ends. Leaving the block early cancels the run.
    """
    if buffer < 1:
        raise ValueError("buffer must be at least 1")
    events = ArchiveEvents(buffer)

    async def run() -> None:
        _LISTENER_ROOM.set(events._room)
        try:
            events.report = await archive(
                client,
                dest,
                selection,
                photo_requests=photo_requests,
                smart_links=smart_links,
                status=status,
                created_after=created_after,
                created_before=created_before,
                is_active=is_active,
                tags=tags,
                source=source,
                concurrency=concurrency,
                variant=variant,
                template=template,
                sidecar=sidecar,
                fsync=fsync,
                progress=progress,
                lookahead=lookahead,
                refresh_margin=refresh_margin,
                retry=retry,
                max_attempts=max_attempts,
                backoff=backoff,
                read_timeout=read_timeout,
                file_timeout=file_timeout,
                chunk_size=chunk_size,
                http=http,
                transport=transport,
                settings=settings,
                max_wait=max_wait,
                shared_dest=shared_dest,
                on_progress=events._put,
            )
        finally:
            events._close()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            yield events
        except BaseException:
            tg.cancel_scope.cancel()
            raise
        else:
            if events.report is None:
                tg.cancel_scope.cancel()
