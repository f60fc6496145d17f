"""The emulator clock: running, frozen, moved forward; waits on it; what it moves."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import anyio
import pytest

from tests.testing.helpers import Api
from visiono_async.testing import EmulatorClock, VisionoEmulator

START = datetime(2027, 1, 1, 12, 0, tzinfo=timezone.utc)


class TestFreezeAndAdvance:
    def test_a_running_clock_follows_real_time(self) -> None:
        """Unfrozen, the clock reads real unix time plus what it was advanced."""
        clock = EmulatorClock()
        before = time.time()
        clock.advance(100)
        now = clock.now()
        assert not clock.frozen
        assert before + 100 <= now <= time.time() + 100

    def test_a_frozen_clock_stands_still_and_moves_exactly(self) -> None:
        """Frozen, only ``advance`` moves it, by exactly that much."""
        clock = EmulatorClock(frozen_at=START)
        assert clock.frozen
        assert START.timestamp() == clock.now()
        clock.advance(59.5)
        assert START.timestamp() + 59.5 == clock.now()

    def test_freeze_stops_where_the_clock_is(self) -> None:
        """``freeze()`` stops a running clock at its current time."""
        clock = EmulatorClock()
        clock.advance(3600)
        before = time.time() + 3600
        clock.freeze()
        frozen = clock.now()
        assert before <= frozen <= time.time() + 3600
        assert frozen == clock.now()

    def test_unfreeze_runs_on_from_the_frozen_time(self) -> None:
        """After ``unfreeze`` the clock runs again from where it stood, not from real time."""
        clock = EmulatorClock(frozen_at=START)
        clock.unfreeze()
        assert not clock.frozen
        assert START.timestamp() <= clock.now() < START.timestamp() + 60

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param(lambda c: c.advance(-1), id="negative-advance"),
            pytest.param(lambda c: c.freeze(START - timedelta(seconds=1)), id="freeze-in-the-past"),
            pytest.param(lambda c: c.freeze(START.replace(tzinfo=None)), id="naive-datetime"),
        ],
    )
    def test_the_clock_never_moves_backwards(self, bad: object) -> None:
        """Moving back, or a naive datetime, is a ``ValueError`` and leaves the clock as it was."""
        clock = EmulatorClock(frozen_at=START)
        with pytest.raises(ValueError, match=r"seconds >= 0|backwards|aware datetime"):
            bad(clock)  # type: ignore[operator]
        assert START.timestamp() == clock.now()

    def test_repr_names_the_state_and_time(self) -> None:
        """The repr says frozen or running, and the time in ISO 8601."""
        assert "<EmulatorClock frozen at 2027-01-01T12:00:00+00:00>" == repr(
            EmulatorClock(frozen_at=START)
        )


class TestSleep:
    async def test_a_wait_ends_when_the_frozen_clock_gets_there(self) -> None:
        """``sleep`` on a frozen clock ends on the ``advance`` that reaches its time, not before."""
        clock = EmulatorClock(frozen_at=START)
        done = anyio.Event()

        async def sleeper() -> None:
            await clock.sleep(300)
            done.set()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sleeper)
                assert START.timestamp() + 300 == await clock.next_wait_ahead()
                assert START.timestamp() + 300 == clock.next_wait
                clock.advance(299)
                await anyio.sleep(0.01)
                assert not done.is_set()
                clock.advance(1)
                await done.wait()
        assert clock.next_wait is None

    async def test_a_wait_on_a_running_clock_ends_in_real_time(self) -> None:
        """Running, a short wait ends by itself."""
        clock = EmulatorClock()
        with anyio.fail_after(5):
            await clock.sleep(0.01)
        assert clock.next_wait is None


class TestEmulatorClock:
    async def test_requests_expire_when_the_clock_is_moved(self, api: Api) -> None:
        """``emulator.clock.advance`` past ``expires_at`` expires the request at once."""
        emu = api.emulator
        emu.clock.freeze()
        created = await api.create(expires_in_hours=1)
        emu.clock.advance(3600)
        assert "pending" == (await api.get(f"/photo-requests/{created['id']}")).data["status"]
        emu.clock.advance(1)
        assert "expired" == (await api.get(f"/photo-requests/{created['id']}")).data["status"]

    async def test_a_clock_passed_in_is_the_emulators(self) -> None:
        """``VisionoEmulator(clock=...)`` uses that clock for its timestamps."""
        clock = EmulatorClock(frozen_at=START)
        async with VisionoEmulator(clock=clock) as emu:
            assert emu.clock is clock
            assert START.timestamp() == emu.now()
            emu.advance_time(10)
            assert START.timestamp() + 10 == clock.now()
