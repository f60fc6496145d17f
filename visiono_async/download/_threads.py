"""The pipeline's file-I/O threads: a small dedicated pool, and a lane that groups small jobs.

Two things make thread hops expensive for a run over many small files. ``anyio.to_thread``
takes a capacity limiter, a cancel scope and a context copy per call, about twice the
event-loop time of a plain ``concurrent.futures`` submission. And every GIL hand-off
between the event loop and a worker costs a thread wake-up: a small file's open, write,
hash, close and rename each release the GIL, and on a busy two-core machine the worker then
waits for the loop to let go of it, so a 50 µs job took milliseconds and the whole run
doubled. ``run_grouped`` fixes the second: jobs that arrive while a group is in flight wait
and then run together, back to back, in one thread (group commit), so the hand-offs are
paid per group rather than per file. Where each job waits on slow storage instead (a
network file system), the hand-offs do not matter and parallelism does: groups then run
in several threads at once. Big jobs (a chunk of a large file) release the GIL for long
stretches and gain from running in parallel: they go through ``run``.

Cheaper still is no hop at all. On a local disk a small file's whole finish (open, write,
hash, close, rename) takes tens of microseconds, about what one hop costs the event loop,
and a measured run over 2000 small files took 0.41 s with those jobs run inline against
0.60-0.66 s grouped in a thread, with the same event-loop CPU. ``run_small`` therefore runs
small jobs inline while they stay quick on average (``INLINE_JOB``) and hands them to the
grouped lane as soon as they are not (a network file system, a stalling disk); every
``PROBE_EVERY`` jobs in the lane it tries inline again, so a disk that recovers is used
inline again.

The cancellation contract of both is that of ``anyio.to_thread.run_sync``: a job that has
started runs to its end, and the caller waits for it (shielded from the cancellation)
before the cancellation goes on, so a caller's cleanup never races a write in flight. A
grouped job that has not started yet is simply dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["IOThreads"]

T = TypeVar("T")

SLOW_JOB = 0.004
"""Seconds a grouped job takes on average beyond which groups run in parallel.

Far above a local disk's (tens to hundreds of µs per small file, a millisecond or two when
GIL hand-offs stretch it) and below a network file system's, where closing a file waits
for the server to commit it. Groups go back to one thread below a quarter of this.
"""


INLINE_JOB = 0.0005
"""Seconds a small job may take on average and still run inline, in the event loop."""

PROBE_EVERY = 256
"""Jobs handed to the grouped lane between two tries of running inline again."""


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    # RuntimeError: the loop closed, so nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Job(Generic[T]):
    __slots__ = ("args", "done", "error", "func", "result", "waiter")

    def __init__(
        self, func: Callable[..., T], args: tuple[object, ...], waiter: asyncio.Future[None]
    ) -> None:
        self.func = func
        self.args = args
        self.waiter = waiter
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.result = self.func(*self.args)
        except BaseException as exc:  # handed to the caller, like concurrent.futures does
            self.error = exc

    def outcome(self) -> T:
        error = self.error
        if error is not None:
            self.error = None  # no reference cycle through the traceback
            raise error
        return self.result  # type: ignore[return-value]


def _run_group(group: list[_Job[Any]]) -> float:
    started = time.perf_counter()
    for job in group:
        job()
    return time.perf_counter() - started


class IOThreads:
    """A fixed pool of worker threads for blocking file work.

    Args:
        workers: Threads in the pool; big jobs run on up to this many at once, and so do
            groups when grouped jobs turn out slow (a network file system).
    """

    def __init__(self, workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="visiono-archive-io"
        )
        # Streams (a large body moved from socket to file) hold a thread while bytes flow:
        # a pool of their own, so that they never hold up the short file jobs.
        self._streams = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="visiono-archive-stream"
        )
        self._workers = workers
        self._queued: list[_Job[Any]] = []
        self._groups = 0
        # A decaying average of a grouped job's duration: seconds and jobs, both decayed, so
        # that a group of one stretched by GIL hand-offs weighs as one job, not as a group.
        self._seconds = 0.0
        self._jobs = 0.0
        self._parallel = False
        # The same kind of average for jobs run inline, and whether to run them so.
        self._inline = True
        self._inline_seconds = 0.0
        self._inline_jobs = 0.0
        self._since_probe = 0

    @property
    def inline(self) -> bool:
        """Whether ``run_small`` currently runs jobs inline."""
        return self._inline

    async def run_small(self, func: Callable[..., T], *args: object) -> T:
        """Run a small job ``func(*args)`` inline while such jobs are quick, else grouped.

        Inline, the job runs in the calling (event-loop) thread at once and is timed; once
        jobs take longer than ``INLINE_JOB`` on average they go to :meth:`run_grouped`,
        and every ``PROBE_EVERY`` of those one runs inline again to see whether storage
        has become quick again. Either way the job runs to its end once started.
        """
        if not self._inline:
            self._since_probe += 1
            if self._since_probe < PROBE_EVERY:
                return await self.run_grouped(func, *args)
            self._since_probe = 0
            self._inline = True
            self._inline_seconds = self._inline_jobs = 0.0  # judged afresh by this job
        started = time.perf_counter()
        try:
            return func(*args)
        finally:
            # One job held up once (a page-cache flush, the GIL held by another thread for
            # a switch interval) weighs at most four times the limit: a few such in a row
            # still move the jobs to the lane, a lone one does not.
            took = min(time.perf_counter() - started, 4 * INLINE_JOB)
            self._inline_seconds = 0.9 * self._inline_seconds + took
            self._inline_jobs = 0.9 * self._inline_jobs + 1.0
            if self._inline_seconds > INLINE_JOB * self._inline_jobs:
                self._inline = False

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Run ``func(*args)`` in a worker thread of its own; return its result or raise.

        Cancellation while the job runs is deferred until the job has finished.
        """
        return await self._submit(self._pool, None, func, args)

    async def run_stream(
        self, func: Callable[..., T], *args: object, on_cancel: Callable[[], None]
    ) -> T:
        """Run a long job ``func(*args)`` in the stream pool; return its result or raise.

        On cancellation ``on_cancel`` is called (from the event loop) to make the job stop
        soon, and the caller waits for it to end before the cancellation goes on.
        """
        return await self._submit(self._streams, on_cancel, func, args)

    async def _submit(
        self,
        pool: concurrent.futures.ThreadPoolExecutor,
        on_cancel: Callable[[], None] | None,
        func: Callable[..., T],
        args: tuple[object, ...],
    ) -> T:
        loop = asyncio.get_running_loop()
        job = pool.submit(func, *args)
        waiter: asyncio.Future[None] = loop.create_future()
        job.add_done_callback(lambda _job: _wake(loop, waiter))
        try:
            await waiter
        except BaseException:
            if not job.cancel() and not job.done():
                if on_cancel is not None:
                    on_cancel()
                waiter = loop.create_future()
                job.add_done_callback(lambda _job: _wake(loop, waiter))
                with anyio.CancelScope(shield=True):
                    await waiter
            raise
        return job.result()

    async def run_grouped(self, func: Callable[..., T], *args: object) -> T:
        """Run ``func(*args)`` in a worker thread, grouped with the other small jobs.

        Jobs that arrive while a group runs form the next one, and a group runs its jobs
        in the order they arrived. One group runs at a time while jobs are quick (the GIL
        hand-offs then cost more than the work); once they take longer than ``SLOW_JOB``
        on average, as on a network file system, up to ``workers`` groups run at once.
        Cancellation before the job started drops it; cancellation while it runs is
        deferred until it has finished.
        """
        loop = asyncio.get_running_loop()
        job = _Job(func, args, loop.create_future())
        self._queued.append(job)
        if self._groups < self._lanes():
            self._start_group(loop)
        try:
            await job.waiter
        except BaseException:
            if job in self._queued:
                self._queued.remove(job)
            elif not job.done:
                job.waiter = loop.create_future()
                with anyio.CancelScope(shield=True):
                    await job.waiter
            raise
        return job.outcome()

    def _lanes(self) -> int:
        return self._workers if self._parallel else 1

    def _start_group(self, loop: asyncio.AbstractEventLoop) -> None:
        # Spread what is queued over the lanes that are free.
        share = -(-len(self._queued) // max(1, self._lanes() - self._groups))
        group, self._queued = self._queued[:share], self._queued[share:]
        self._groups += 1
        try:
            future = self._pool.submit(_run_group, group)
        except RuntimeError as exc:  # the pool is shut down: fail the jobs, hang nobody
            for job in group:
                job.error = exc
            self._finished(loop, group, None)
            return
        future.add_done_callback(lambda done: self._wake_group(loop, group, done))

    def _wake_group(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[_Job[Any]],
        done: concurrent.futures.Future[float],
    ) -> None:
        # RuntimeError: the loop closed, so nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._finished, loop, group, done.result())

    def _finished(
        self, loop: asyncio.AbstractEventLoop, group: list[_Job[Any]], seconds: float | None
    ) -> None:
        self._groups -= 1
        if seconds is not None:
            self._seconds = 0.9 * self._seconds + seconds
            self._jobs = 0.9 * self._jobs + len(group)
            per_job = self._seconds / self._jobs
            if per_job > SLOW_JOB:
                self._parallel = True
            elif per_job < SLOW_JOB / 4:
                self._parallel = False
        for job in group:
            job.done = True
            _resolve(job.waiter)
        while self._queued and self._groups < self._lanes():
            self._start_group(loop)

    def close(self) -> None:
        """Stop the threads once their queued jobs are done (every job was awaited)."""
        self._pool.shutdown(wait=True)
        self._streams.shutdown(wait=True)
