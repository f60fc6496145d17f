"""The stream threads: a small dedicated pool that moves large bodies from socket to file.

A large body read through a :class:`~visiono_async.download._http.BodyPipe` holds a thread
while its bytes flow (read, write and hash in that one thread, off the event loop). Those
jobs get a pool of their own, so they never hold up the run's short file jobs, which go
through ``anyio.to_thread`` under the run's ``CapacityLimiter`` (the one mechanism for
everything else: the finisher's group jobs, stats, reconciling).

The cancellation contract is that of ``anyio.to_thread.run_sync``, plus a hook: on
cancellation ``on_cancel`` makes the job stop soon (it shuts the pipe), and the caller
waits for the job to end, shielded, before the cancellation goes on, so a caller's cleanup
never races a write in flight. A job that has not started yet is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import TypeVar

import anyio

__all__ = ["IOThreads"]

T = TypeVar("T")


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> None:
    # RuntimeError: the loop closed, so nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class IOThreads:
    """The stream threads of one run.

    Args:
        workers: Threads in the pool: large bodies stream into their files on up to this
            many at once.
    """

    def __init__(self, workers: int) -> None:
        self._streams = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="visiono-archive-stream"
        )

    async def run_stream(
        self, func: Callable[..., T], *args: object, on_cancel: Callable[[], None]
    ) -> T:
        """Run a long job ``func(*args)`` in the stream pool; return its result or raise.

        On cancellation ``on_cancel`` is called (from the event loop) to make the job stop
        soon, and the caller waits for it to end before the cancellation goes on.

        Raises:
            RuntimeError: The pool is closed.
        """
        loop = asyncio.get_running_loop()
        job = self._streams.submit(func, *args)
        waiter: asyncio.Future[None] = loop.create_future()
        job.add_done_callback(lambda _job: _wake(loop, waiter))
        try:
            await waiter
        except BaseException:
            if not job.cancel() and not job.done():
                on_cancel()
                waiter = loop.create_future()
                job.add_done_callback(lambda _job: _wake(loop, waiter))
                with anyio.CancelScope(shield=True):
                    await waiter
            raise
        return job.result()

    def close(self) -> None:
        """Stop the threads once their jobs are done (every job was awaited)."""
        self._streams.shutdown(wait=True)
