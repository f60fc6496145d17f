"""The pipeline's file-I/O threads: results, errors, grouping and cancellation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from visiono_async.download import _threads as threads_module
from visiono_async.download._threads import SLOW_JOB, IOThreads


@pytest.fixture
def io() -> Iterator[IOThreads]:
    threads = IOThreads(2)
    yield threads
    threads.close()


class TestRun:
    async def test_returns_the_result_from_another_thread(self, io: IOThreads) -> None:
        """The job runs off the event loop's thread and its result comes back."""
        assert threading.get_ident() != await io.run(threading.get_ident)

    async def test_raises_the_jobs_error(self, io: IOThreads) -> None:
        """An exception in the job is raised to the caller as itself."""
        with pytest.raises(OSError, match="disk on fire"):
            await io.run(_fail, "disk on fire")


class TestRunGrouped:
    async def test_jobs_arriving_together_run_in_order_in_one_thread(
        self, io: IOThreads, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Jobs queued while a group runs form the next group, run in arrival order."""
        # The gate keeps job 0 busy for 50 ms, which on its own would count as slow storage
        # and switch to parallel lanes (tested below); this test is about quick jobs.
        monkeypatch.setattr(threads_module, "SLOW_JOB", 10.0)
        gate = threading.Event()
        ran: list[tuple[int, int]] = []

        def job(n: int) -> int:
            if n == 0:
                gate.wait(5)
            ran.append((n, threading.get_ident()))
            return n * 10

        results: dict[int, int] = {}

        async def submit(n: int) -> None:
            results[n] = await io.run_grouped(job, n)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(submit, n)
            await anyio.sleep(0.05)  # job 0 holds its group; 1-5 queue up behind it
            gate.set()

        assert {n: n * 10 for n in range(6)} == results
        assert list(range(6)) == [n for n, _ in ran]
        assert 1 == len({ident for n, ident in ran if n > 0})

    async def test_an_error_fails_only_its_own_job(self, io: IOThreads) -> None:
        """A failing job in a group raises to its caller; the others succeed."""
        outcomes: dict[str, object] = {}

        async def submit(name: str, fail: bool) -> None:
            try:
                outcomes[name] = await io.run_grouped(_fail if fail else str.upper, name)
            except OSError as exc:
                outcomes[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(submit, "a", False)
            tg.start_soon(submit, "b", True)
            tg.start_soon(submit, "c", False)

        assert "A" == outcomes["a"]
        assert isinstance(outcomes["b"], OSError)
        assert "C" == outcomes["c"]

    async def test_cancelled_before_it_starts_the_job_never_runs(self, io: IOThreads) -> None:
        """A queued job whose caller is cancelled is dropped; the running one completes."""
        started, release = threading.Event(), threading.Event()
        ran: list[str] = []

        def blocker() -> None:
            started.set()
            release.wait(5)
            ran.append("blocker")

        async with anyio.create_task_group() as tg:
            tg.start_soon(io.run_grouped, blocker)
            await anyio.to_thread.run_sync(started.wait, 5)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await io.run_grouped(ran.append, "dropped")
            release.set()
        await io.run_grouped(ran.append, "after")

        assert ["blocker", "after"] == ran

    @pytest.mark.parametrize(
        ("seconds", "lanes"),
        [(0.0, 1), (2 * SLOW_JOB + 0.01, 4)],
        ids=["quick-jobs-one-thread", "slow-jobs-in-parallel"],
    )
    async def test_slow_jobs_spread_over_the_threads(self, seconds: float, lanes: int) -> None:
        """Quick jobs run one at a time; slow ones (a network file system) in parallel."""
        io = IOThreads(4)
        lock = threading.Lock()
        running = peak = 0

        def job() -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(seconds)
            with lock:
                running -= 1

        try:
            for _ in range(3):  # the pool learns how long a job takes
                await io.run_grouped(job)
            peak = 0
            for _ in range(5):
                async with anyio.create_task_group() as tg:
                    for _ in range(8):
                        tg.start_soon(io.run_grouped, job)
        finally:
            io.close()

        assert (lanes == 1) == (1 == peak)
        assert peak <= lanes

    async def test_after_close_jobs_fail_instead_of_hanging(self) -> None:
        """Submitting to a closed pool raises rather than waiting forever."""
        io = IOThreads(1)
        io.close()

        with anyio.fail_after(5), pytest.raises(RuntimeError):
            await io.run_grouped(str, "x")


class TestRunSmall:
    @pytest.fixture(autouse=True)
    def _roomy_limit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # 10 ms rather than 0.5: a busy machine's scheduling hiccup must not count as slow.
        monkeypatch.setattr(threads_module, "INLINE_JOB", 0.01)

    async def test_quick_jobs_run_inline(self, io: IOThreads) -> None:
        """Quick jobs run in the calling thread and keep running there."""
        for n in range(20):
            assert threading.get_ident() == await io.run_small(threading.get_ident)
            assert n * 2 == await io.run_small(int.__mul__, n, 2)
        assert io.inline

    async def test_a_slow_job_sends_the_next_ones_to_a_thread(self, io: IOThreads) -> None:
        """Once jobs are slow on average, they run in a worker thread instead."""
        assert io.inline
        assert "done" == await io.run_small(_sleep_then, 3 * threads_module.INLINE_JOB, "done")
        assert not io.inline
        for _ in range(5):
            assert threading.get_ident() != await io.run_small(threading.get_ident)
        assert not io.inline

    async def test_inline_is_tried_again_every_probe_every_jobs(
        self, io: IOThreads, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After PROBE_EVERY jobs in the lane one runs inline; quick again, they stay inline."""
        monkeypatch.setattr(threads_module, "PROBE_EVERY", 3)
        await io.run_small(time.sleep, 3 * threads_module.INLINE_JOB)
        assert not io.inline
        here = threading.get_ident()

        ran_here = [here == await io.run_small(threading.get_ident) for _ in range(6)]

        assert [False, False, True, True, True, True] == ran_here
        assert io.inline

    async def test_a_slow_probe_goes_back_to_the_thread(
        self, io: IOThreads, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A probe that is still slow sends the jobs after it back to the lane."""
        monkeypatch.setattr(threads_module, "PROBE_EVERY", 2)
        slow = 3 * threads_module.INLINE_JOB
        here = threading.get_ident()
        ran_here = [here == await io.run_small(_slow_ident, slow) for _ in range(5)]
        # inline (slow), lane, probe inline (slow), lane, probe inline (slow)
        assert [True, False, True, False, True] == ran_here
        assert not io.inline

    async def test_an_inline_jobs_error_is_raised_as_itself(self, io: IOThreads) -> None:
        """An exception from an inline job reaches the caller unchanged."""
        error = OSError(28, "No space left on device")
        where: list[int] = []

        def job() -> None:
            where.append(threading.get_ident())
            raise error

        with pytest.raises(OSError, match="No space left") as caught:
            await io.run_small(job)

        assert caught.value is error
        assert [threading.get_ident()] == where
        assert io.inline

    async def test_a_grouped_jobs_error_is_raised_as_itself(self, io: IOThreads) -> None:
        """The same holds once small jobs run in the lane."""
        await io.run_small(time.sleep, 3 * threads_module.INLINE_JOB)
        assert not io.inline

        with pytest.raises(OSError, match="disk on fire"):
            await io.run_small(_fail, "disk on fire")


def _sleep_then(seconds: float, result: object) -> object:
    time.sleep(seconds)
    return result


def _slow_ident(seconds: float) -> int:
    time.sleep(seconds)
    return threading.get_ident()


def _fail(message: str) -> None:
    raise OSError(message)


@pytest.mark.parametrize("submit", ["run", "run_grouped"])
async def test_cancellation_waits_for_the_running_job(io: IOThreads, submit: str) -> None:
    """A caller cancelled while its job runs (alone or in a group) resumes only after the job finished."""
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def job() -> None:
        started.set()
        release.wait(5)
        finished.append("job")

    scope = anyio.CancelScope()

    async def caller() -> None:
        with scope:
            try:
                await getattr(io, submit)(job)
            finally:
                finished.append("caller")

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.to_thread.run_sync(started.wait, 5)
        scope.cancel()
        await anyio.sleep(0.05)
        waiting = list(finished)
        release.set()

    assert [] == waiting
    assert ["job", "caller"] == finished
    assert scope.cancelled_caught
