"""The stream threads: results, errors, a closed pool, and cancellation that waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import pytest

from visiono_async.download._threads import IOThreads


@pytest.fixture
def io() -> Iterator[IOThreads]:
    threads = IOThreads(2)
    yield threads
    threads.close()


def _never_cancelled() -> None:
    raise AssertionError("on_cancel called without a cancellation")


def _fail(message: str) -> None:
    raise OSError(message)


class TestRunStream:
    async def test_returns_the_result_from_another_thread(self, io: IOThreads) -> None:
        """The job runs off the event loop's thread and its result comes back."""
        ident = await io.run_stream(threading.get_ident, on_cancel=_never_cancelled)
        assert threading.get_ident() != ident

    async def test_raises_the_jobs_error(self, io: IOThreads) -> None:
        """An exception in the job is raised to the caller as itself."""
        with pytest.raises(OSError, match="disk on fire"):
            await io.run_stream(_fail, "disk on fire", on_cancel=_never_cancelled)

    async def test_after_close_jobs_fail_instead_of_hanging(self) -> None:
        """Submitting to a closed pool raises rather than waiting forever."""
        io = IOThreads(1)
        io.close()
        with anyio.fail_after(5), pytest.raises(RuntimeError):
            await io.run_stream(str, "x", on_cancel=_never_cancelled)

    async def test_cancellation_stops_the_job_and_waits_for_it(self, io: IOThreads) -> None:
        """A caller cancelled while its job runs calls on_cancel, and resumes only after
        the job has ended: its cleanup never races a write in flight."""
        started, stop = threading.Event(), threading.Event()
        finished: list[str] = []

        def job() -> None:
            started.set()
            stop.wait(5)
            finished.append("job")

        scope = anyio.CancelScope()

        async def caller() -> None:
            with scope:
                try:
                    await io.run_stream(job, on_cancel=stop.set)
                finally:
                    finished.append("caller")

        async with anyio.create_task_group() as tg:
            tg.start_soon(caller)
            await anyio.to_thread.run_sync(started.wait, 5)
            scope.cancel()

        assert ["job", "caller"] == finished
        assert stop.is_set()
        assert scope.cancelled_caught

    async def test_a_job_cancelled_before_it_starts_never_runs(self) -> None:
        """With every thread busy, a queued job whose caller is cancelled is dropped."""
        io = IOThreads(1)
        busy, release = threading.Event(), threading.Event()
        ran: list[str] = []

        def blocker() -> None:
            busy.set()
            release.wait(5)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: io.run_stream(blocker, on_cancel=release.set))
                await anyio.to_thread.run_sync(busy.wait, 5)
                with anyio.CancelScope() as scope:
                    scope.cancel()
                    await io.run_stream(ran.append, "dropped", on_cancel=_never_cancelled)
                release.set()
            await io.run_stream(ran.append, "after", on_cancel=_never_cancelled)
        finally:
            io.close()
        assert ["after"] == ran
