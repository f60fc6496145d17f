"""One key's budget shared through a real Redis by real processes, against the emulator's limits."""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.children import child_env, python_child
from tests.conftest import SendTimes
from tests.multiproc.helpers import (
    RestartableRedis,
    expect_line,
    read_result,
    restartable_redis,
    wait_until,
)
from visiono_async import RateLimit, RateLimitError, RetryPolicy, VisionoClient, WaitNotice
from visiono_async._shared_budget import _PROBE_INTERVAL, budget_key
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.redis

CHILD = str(Path(__file__).with_name("budget_child.py"))
WINDOW = 1.0
"""The emulator's "minute", scaled down: 1 s."""


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    with restartable_redis(tmp_path) as server:
        yield server


def server_windows(times: list[float], length: float) -> list[int]:
    """Calls per fixed window, windows opening at the first call after the last one closed
    (the emulator's rule)."""
    counts: list[int] = []
    start = -math.inf
    for t in sorted(times):
        if t >= start + length:
            start = t
            counts.append(0)
        counts[-1] += 1
    return counts


async def run_children(
    emu: VisionoEmulator, key: str, redis_url: str, *, processes: int, calls: int, limit: int,
    share: float, during: Any = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """``processes`` children making ``calls`` concurrent calls each; their results."""
    env = child_env(VISIONO_BASE_URL=emu.base_url, VISIONO_API_KEY=key)
    args = [CHILD, str(calls), redis_url, str(limit), str(WINDOW), str(share)]
    async with contextlib.AsyncExitStack() as stack:
        children = [
            await stack.enter_async_context(python_child(*args, env=env)) for _ in range(processes)
        ]
        for child in children:
            await expect_line(child, "ready")
        for child in children:
            assert child.stdin is not None
            await child.stdin.send(b"go\n")
        if during is not None:
            await during()
        return [await read_result(child) for child in children]


class TestSharedBudget:
    async def test_three_processes_share_one_budget_without_a_429(
        self, redis: RestartableRedis
    ) -> None:
        """3 processes x 100 coroutines on one key at 50 calls/s: no 429, no RateLimitError,
        and every server window but the last used to the full (the ideal 6 windows)."""
        async with VisionoEmulator(
            rate_limit_per_minute=50, rate_limit_per_hour=100_000,
            rate_limit_window_scale=WINDOW / 60,
        ) as emu:  # fmt: skip
            key = emu.create_api_key()
            results = await run_children(
                emu, key, redis.url, processes=3, calls=100, limit=50, share=0.25
            )
            records = [r for r in emu.requests if r.api and r.path == "/status"]
        assert [{"ok": 100}] * 3 == [r["outcomes"] for r in results]
        assert 300 == len(records)
        assert 0 == sum(1 for r in records if r.status == 429)
        windows = server_windows([r.time for r in records], WINDOW)
        # The fewest windows 300 calls can take at 50 per window: no window was wasted, so
        # the run took at most 6 x (1 s + the 0.1 s safety margin) = 110% of calls / rate.
        assert [50] * 6 == windows
        assert all("Redis" not in r["stderr"] for r in results)
        assert sum(r["waits"].get("rate_limit", 0) for r in results) > 0

    async def test_redis_killed_and_restarted_mid_run_fails_no_call(
        self, redis: RestartableRedis
    ) -> None:
        """Redis dies after the first calls and returns later: every call succeeds, the
        processes pace locally at a third of the budget meanwhile, each says so once."""
        async with VisionoEmulator(
            rate_limit_per_minute=30, rate_limit_per_hour=100_000,
            rate_limit_window_scale=WINDOW / 60,
        ) as emu:  # fmt: skip
            key = emu.create_api_key()

            def sent() -> int:
                return emu.count("GET", "/status")

            killed_at: list[float] = []
            back_at: list[float] = []

            async def outage() -> None:
                await wait_until(lambda: sent() >= 40)
                redis.kill()
                killed_at.append(emu.now())
                down_at = sent()
                await wait_until(lambda: sent() >= down_at + 40)
                redis.start()
                back_at.append(emu.now())

            results = await run_children(
                emu, key, redis.url, processes=3, calls=60, limit=30, share=1 / 3, during=outage
            )
            records = [r for r in emu.requests if r.api and r.path == "/status"]
        assert [{"ok": 60}] * 3 == [r["outcomes"] for r in results]
        # The documented fallback: in the window Redis vanished in, a process that had used
        # less than its share may still send up to its share (at most (3 - 1) x 10 extra);
        # the server refuses those, they are waited out, and nothing is refused later, nor
        # when Redis returns (the processes come back one by one, each keeping its share).
        refused = [r.time for r in records if r.status == 429]
        # For a failure: each call's time from the kill, and its status.
        timeline = [(round(r.time - killed_at[0], 3), r.status) for r in records]
        why = f"Redis back {back_at[0] - killed_at[0]:.3f} s after the kill; {timeline}"
        assert len(refused) <= 20, why
        assert all(killed_at[0] - 0.1 <= t <= killed_at[0] + 2 * WINDOW for t in refused), why
        for result in results:
            # Said once per outage, and the return said once too.
            if "unreachable" in result["stderr"]:
                assert 1 == result["stderr"].count("is unreachable")
                assert 1 == result["stderr"].count("the budget is shared again"), result["stderr"]
        assert any("unreachable" in r["stderr"] for r in results)

    async def test_a_client_back_on_redis_keeps_its_share_while_another_is_still_local(
        self, redis: RestartableRedis
    ) -> None:
        """Right after Redis returns, the first client back keeps to its local share: a
        second client still pacing locally has sends that Redis learns of only when that
        client comes back. Without this the first booked the whole window and the server
        refused 4 calls."""
        window = 2.0
        limit = RateLimit(
            per_minute=None, per_hour=None, windows=((10, window),), redis_url=redis.url,
            fallback_share=0.5,
        )  # fmt: skip
        async with VisionoEmulator(
            rate_limit_per_minute=10, rate_limit_per_hour=100_000,
            rate_limit_window_scale=window / 60,
        ) as emu:  # fmt: skip
            key = emu.create_api_key()
            async with (
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=limit) as first,
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=limit) as second,
            ):
                redis.kill()
                await first.status()  # Redis unreachable: local; tries again in a second
                down_at = anyio.current_time()
                await second.status()
                redis.start()
                for _ in range(4):  # the second's whole share, before it tries Redis again
                    await second.status()
                assert anyio.current_time() < down_at + _PROBE_INTERVAL, "the scenario ran late"
                await anyio.sleep(down_at + _PROBE_INTERVAL + 0.05 - anyio.current_time())
                async with anyio.create_task_group() as tg:
                    for _ in range(8):  # the first is back on Redis, which knows of 1 call
                        tg.start_soon(first.status)
                assert first.session._pacer.shared and not second.session._pacer.shared
            records = [r for r in emu.requests if r.api and r.path == "/status"]
        assert [] == [r.time - records[0].time for r in records if r.status == 429]
        assert 14 == len(records)
        # The server's first window (2 s from the first call) took 10 calls: the full budget.
        assert [10, 4] == server_windows([r.time for r in records], window)


class TestRedisKeys:
    async def test_the_key_is_a_hash_of_the_api_key(self, redis: RestartableRedis) -> None:
        """Redis holds the budget under a hash: the API key appears in no key and no value."""
        async with VisionoEmulator(rate_limit_window_scale=WINDOW / 60) as emu:
            key = emu.create_api_key()
            limit = RateLimit(per_minute=60, per_hour=1000, redis_url=redis.url)
            async with VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=limit) as c:
                await c.status()
                await c.status()
        from redis.asyncio import Redis

        async with Redis.from_url(redis.url) as r:
            keys = sorted(k.decode() for k in await r.keys("*"))
            values = [m for k in keys for m in await r.zrange(k, 0, -1)]
        prefix = budget_key("visiono:budget", key)
        assert [f"{prefix}:1000/3600s", f"{prefix}:60/60s"] == keys
        assert 4 == len(values)
        assert all(key not in k and key.encode() not in v for k in keys for v in values)
        assert key not in repr(limit) and redis.url not in repr(limit)

    async def test_a_429_in_one_client_holds_another(self, redis: RestartableRedis) -> None:
        """A 429 seen by one client holds a second client on the same key and Redis until
        the reset: the second waits (server_reset) instead of sending into the refusal, and
        is told once (the 429's ``Retry-After`` and its window reset make one hold)."""
        from redis.asyncio import Redis

        async with VisionoEmulator(
            rate_limit_per_minute=2, rate_limit_per_hour=1000, rate_limit_window_scale=WINDOW / 60
        ) as emu:
            key = emu.create_api_key()
            shared = RateLimit(per_minute=1000, per_hour=10_000, redis_url=redis.url)
            notices: list[WaitNotice] = []

            hold_key = f"{budget_key('visiono:budget', key)}:hold"

            async with (
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=None) as rogue,
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=shared) as first,
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=shared) as second,
            ):
                second.add_wait_listener(notices.append)
                await rogue.status()
                await rogue.status()  # the window is used up behind the shared budget's back
                async with anyio.create_task_group() as tg, Redis.from_url(redis.url) as r:
                    tg.start_soon(first.status)  # 429, waits for the reset, succeeds
                    # The second starts once the first's hold is in Redis (seeing the 429 on
                    # the emulator is too early: the first may not have read it yet).
                    with anyio.fail_after(20):
                        while not await r.exists(hold_key):  # noqa: ASYNC110 - Redis has no event
                            await anyio.sleep(0.005)
                    await second.status()
            records = [r for r in emu.requests if r.api and r.path == "/status"]
        assert [200, 200, 429, 200, 200] == [r.status for r in records]
        assert ["server_reset"] == [n.reason for n in notices]
        # The second client sent nothing until the server's window had reset.
        assert records[3].time >= records[0].time + WINDOW - 0.05
        assert records[4].time >= records[0].time + WINDOW - 0.05

    async def test_unreachable_redis_falls_back_and_says_so_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, send_times: SendTimes
    ) -> None:
        """With no Redis at the URL, calls still succeed, paced locally; one warning."""
        # send_times has set caplog's handler to DEBUG: the warnings are captured too.
        url = f"unix://{tmp_path / 'nothing.sock'}"
        limit = RateLimit(per_minute=None, per_hour=None, windows=((8, 0.5),), redis_url=url)
        async with VisionoEmulator() as emu:
            key = emu.create_api_key()
            async with (
                VisionoClient(
                    api_key=key, base_url=emu.base_url, rate_limit=limit,
                    retry=RetryPolicy(max_wait=5),
                ) as c,
                anyio.create_task_group() as tg,
            ):  # fmt: skip
                for _ in range(6):
                    tg.start_soon(c.status)
            assert 6 == emu.count("GET", "/status")
        times = send_times("GET", "/status")  # the pacer's grants
        assert 6 == len(times)
        # A quarter of 8 per 0.5 s (+ the 0.1 s margin): 2 per 0.6 s (float rounding aside).
        assert all(times[i + 2] - times[i] >= 0.6 - 1e-6 for i in range(len(times) - 2)), times
        warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
        assert 1 == len(warnings)
        assert "25%" in warnings[0]

    async def test_a_full_local_window_is_within_max_wait(
        self, tmp_path: Path, send_times: SendTimes
    ) -> None:
        """The local windows carry the same margin as the shared ones, and max_wait allows
        for it: waiting out one whole local window is pacing, not a RateLimitError."""
        url = f"unix://{tmp_path / 'nothing.sock'}"
        limit = RateLimit(
            per_minute=None, per_hour=None, windows=((2, 0.5),), redis_url=url,
            fallback_share=0.5,
        )  # fmt: skip
        notices: list[WaitNotice] = []
        async with VisionoEmulator() as emu:
            key = emu.create_api_key()
            async with VisionoClient(
                api_key=key, base_url=emu.base_url, rate_limit=limit,
                retry=RetryPolicy(max_wait=0.5),
            ) as c:  # fmt: skip
                c.add_wait_listener(notices.append)
                await c.status()
                await c.status()  # one local call per 0.5 s + the 0.1 s margin
            assert 2 == emu.count("GET", "/status")
        times = send_times("GET", "/status")
        assert 2 == len(times)
        assert times[1] - times[0] >= 0.6 - 1e-6, times
        assert ["rate_limit"] == [n.reason for n in notices]

    async def test_the_redis_password_never_reaches_the_log(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unreachable Redis is named by host and port only, never its credentials."""
        caplog.set_level(logging.WARNING, logger="visiono_async")
        with socket.socket() as refusing:  # bound, never listening: connections are refused
            refusing.bind(("127.0.0.1", 0))
            port = refusing.getsockname()[1]
            url = f"redis://user:s3cr3t-pw@127.0.0.1:{port}/0"
            limit = RateLimit(redis_url=url)
            async with VisionoEmulator() as emu:
                key = emu.create_api_key()
                async with VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=limit) as c:
                    await c.status()
                    assert "s3cr3t" not in repr(c.session._pacer)
        [warning] = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
        assert f"redis://127.0.0.1:{port} is unreachable" in warning
        assert "s3cr3t" not in caplog.text and "s3cr3t" not in repr(limit)

    async def test_a_wait_past_max_wait_raises_and_books_nothing(
        self, redis: RestartableRedis
    ) -> None:
        """Two calls per 5 s shared: a third with max_wait=0.5 raises RateLimitError saying
        how long it would have waited, and takes no slot from the budget."""
        limit = RateLimit(per_minute=None, per_hour=None, windows=((2, 5.0),), redis_url=redis.url)
        async with VisionoEmulator() as emu:
            key = emu.create_api_key()
            async with VisionoClient(
                api_key=key,
                base_url=emu.base_url,
                rate_limit=limit,
                retry=RetryPolicy(max_wait=0.5),
            ) as c:
                await c.status()
                await c.status()
                with pytest.raises(RateLimitError) as info:
                    await c.status()
                with pytest.raises(RateLimitError):
                    await c.status()
        from redis.asyncio import Redis

        async with Redis.from_url(redis.url) as r:
            [window] = await r.keys("*:2/5s")
            booked = await r.zcard(window)
        assert "client_rate_limited" == info.value.code
        assert info.value.retry_after is not None and 4.5 < info.value.retry_after <= 5.1
        assert f"a wait of {info.value.retry_after:.1f}s" in str(info.value)
        assert 2 == booked
        assert 2 == emu.count("GET", "/status")
