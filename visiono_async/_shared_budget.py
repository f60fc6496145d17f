"""One API key's rate-limit budget shared through Redis by every process that uses the key.

The budget is a sliding log per window (a sorted set of send times) that one Lua script
checks and extends atomically: a call either books the earliest slot that keeps every window
under its limit, or is told how long it would have to wait, in one round trip and without a
read-then-write race. Time is Redis's own (``TIME``), so the clocks of the machines sharing a
key do not matter. A window the server reported used up (a 429, ``X-RateLimit-Remaining: 0``)
is a "hold" key that every process honours.

If Redis cannot be reached, the process paces itself with a local :class:`Pacer` at a
fraction of each window, says so once in the log, and goes back to the shared budget (after
telling it what it sent meanwhile) as soon as Redis answers. Other processes come back only
at their own next call, and what they sent locally reaches Redis only then: so for one more
length of each window (plus the probe interval) after coming back, a process also keeps to
its local share of that window. The processes' calls together then never exceed the budget
during the changeover either.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import anyio

from ._config import RateLimit
from ._extras import require_extra
from ._ratelimit import Pacer, PacingTooLongError, WaitReason

__all__ = ["RedisBudget", "budget_key"]

logger = logging.getLogger("visiono_async")

_PROBE_INTERVAL = 1.0
"""Seconds between attempts to reach Redis again while pacing locally."""
_REDIS_TIMEOUT = 1.0
"""Seconds a Redis command or connection may take before Redis counts as unreachable."""
_MARGIN_MIN = 0.1
_MARGIN_SHARE = 0.01

# KEYS: hold, then one sorted set per window. ARGV: member, max wait ms, max reset wait ms,
# then calls and milliseconds per window. Returns {wait ms, 1 if a server hold applies,
# 1 if booked, the slot's time in Redis ms}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = now
local reason = 0
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > now then
  at = hold
  reason = 1
end
local windows = #KEYS - 1
for i = 1, windows do
  local key = KEYS[i + 1]
  local calls = tonumber(ARGV[2 + 2 * i])
  local ms = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ms)
  local count = redis.call('ZCARD', key)
  if count > 0 then
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if tonumber(last[2]) > at then at = tonumber(last[2]) end
  end
  if count >= calls then
    local entry = redis.call('ZRANGE', key, count - calls, count - calls, 'WITHSCORES')
    local free = tonumber(entry[2]) + ms
    if free > at then at = free end
  end
end
local wait = at - now
local limit = tonumber(ARGV[2])
if reason == 1 then limit = tonumber(ARGV[3]) end
if wait > limit then return {wait, reason, 0, at} end
for i = 1, windows do
  local key = KEYS[i + 1]
  local ms = tonumber(ARGV[3 + 2 * i])
  redis.call('ZADD', key, at, ARGV[1])
  redis.call('PEXPIRE', key, at - now + ms)
end
return {wait, reason, 1, at}
"""

# KEYS: hold. ARGV: milliseconds from now. Extends the hold, never shortens it.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + ms > current then
  redis.call('SET', KEYS[1], now + ms, 'PX', ms + 1000)
end
return 1
"""

# KEYS: hold. Returns when the hold ends, in Redis ms (0 when there is none).
_HOLD_END = """
return tonumber(redis.call('GET', KEYS[1]) or '0')
"""

# KEYS: one sorted set per window. ARGV: member prefix, the number of ages k, k ages in
# ms (sends made while Redis was unreachable), then the milliseconds of each window.
_IMPORT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local k = tonumber(ARGV[2])
for i = 1, #KEYS do
  local ms = tonumber(ARGV[2 + k + i])
  for j = 1, k do
    local age = tonumber(ARGV[2 + j])
    if age < ms then redis.call('ZADD', KEYS[i], now - age, ARGV[1] .. ':' .. j) end
  end
  if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
end
return 1
"""


def budget_key(prefix: str, api_key: str) -> str:
    """The Redis key prefix for one API key's budget: a hash of the key, never the key."""
    digest = hashlib.sha256(b"visiono_async budget\0" + api_key.encode()).hexdigest()[:32]
    # In braces: a Redis Cluster keeps every key of one budget in one slot, as the scripts need.
    return f"{prefix}:{{{digest}}}"


def _margin(seconds: float) -> float:
    """Extra seconds per window: arrival times at the server jitter against send times."""
    return max(_MARGIN_MIN, _MARGIN_SHARE * seconds)


def _where(url: str) -> str:
    """The Redis URL without credentials, for log lines."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}:{parts.port or 6379}"


class RedisBudget:
    """The :class:`~visiono_async._ratelimit.Budget` of one API key, kept in Redis.

    Args:
        limits: The windows, the Redis URL and the fallback share.
        api_key: The key whose budget this is (only its hash reaches Redis).
    """

    def __init__(self, limits: RateLimit, api_key: str) -> None:
        if limits.redis_url is None:
            raise ValueError("RedisBudget needs RateLimit(redis_url=...)")
        with require_extra("redis", "RateLimit(redis_url=...)"):
            from redis.asyncio import Redis
        self._windows = sorted(limits.all_windows(), key=lambda w: w[1])
        self._url = limits.redis_url
        self._where = _where(limits.redis_url)
        base = budget_key(limits.redis_prefix, api_key)
        self._hold_key = f"{base}:hold"
        self._window_keys = [f"{base}:{calls}/{seconds:g}s" for calls, seconds in self._windows]
        self._window_args: list[int] = []
        for calls, seconds in self._windows:
            self._window_args += [calls, math.ceil((seconds + _margin(seconds)) * 1000)]
        # A full window's wait is the window plus its margin; max_wait allows for the margin
        # as it allows for the window (a local Pacer waits at most one window too).
        self._slack = max((_margin(s) for _, s in self._windows), default=0.0)
        self._redis: Any = Redis.from_url(
            limits.redis_url,
            socket_timeout=_REDIS_TIMEOUT,
            socket_connect_timeout=_REDIS_TIMEOUT,
            retry_on_timeout=False,
        )
        self._reserve = self._redis.register_script(_RESERVE)
        self._hold = self._redis.register_script(_HOLD)
        self._hold_end = self._redis.register_script(_HOLD_END)
        self._import = self._redis.register_script(_IMPORT)
        share = limits.fallback_share
        self._fallback_windows = [
            (max(1, math.floor(c * share)), s + _margin(s)) for c, s in self._windows
        ]
        self._fallback = Pacer(self._fallback_windows)
        self._back_at = -math.inf
        """When Redis last came back: for a window's length (plus the probe interval) after
        it, this process also keeps to its local share (others may still pace locally)."""
        self._share = share
        self._token = secrets.token_hex(6)
        self._counter = itertools.count()
        self._lock = anyio.Lock()
        self._down = False
        self._retry_at = 0.0
        self._unshared: list[float] = []
        """Local send times (loop clock) while Redis was unreachable, to tell it later."""

    @property
    def shared(self) -> bool:
        """Whether the budget is currently kept in Redis (False while pacing locally)."""
        return not self._down

    def __repr__(self) -> str:
        state = "shared" if not self._down else "local fallback"
        return f"<RedisBudget {self._where} {state}>"

    def _went_down(self, exc: BaseException) -> None:
        self._retry_at = anyio.current_time() + _PROBE_INTERVAL
        if self._down:
            return
        self._down = True
        logger.warning(
            "shared rate-limit budget: Redis at %s is unreachable (%s: %s); this process "
            "paces itself at %.0f%% of each window until Redis answers again",
            self._where, type(exc).__name__, exc, 100 * self._share,
        )  # fmt: skip

    async def _come_back(self) -> None:
        """Tell Redis what was sent while it was away, then use it again."""
        now = anyio.current_time()
        longest = max((s for _, s in self._windows), default=0.0)
        ages = [int((now - t) * 1000) for t in self._unshared if now - t < longest]
        if ages:
            member = f"{self._token}:import:{next(self._counter)}"
            await self._import(
                keys=self._window_keys,
                args=[member, len(ages), *ages, *self._window_args[1::2]],
            )
        self._unshared.clear()
        self._down = False
        # Another process notices Redis again at its next call: at most a probe interval
        # and one local wait (a window) from now. Until then its local sends are unknown
        # to Redis, so this process keeps to its local share as well.
        self._back_at = now
        logger.warning(
            "shared rate-limit budget: Redis at %s answers again; the budget is shared again",
            self._where,
        )

    def _redis_usable(self) -> bool:
        return not self._down or anyio.current_time() >= self._retry_at

    def _settling_delay(self) -> float:
        """How long this process's local share still holds its next call back, in the
        windows that are settling after Redis came back (0 when none)."""
        since = anyio.current_time() - self._back_at - _PROBE_INTERVAL
        settling = [i for i, (_, seconds) in enumerate(self._fallback_windows) if since < seconds]
        return self._fallback.window_delay(settling) if settling else 0.0

    async def acquire(
        self,
        max_wait: float,
        before_wait: Callable[[float, WaitReason], None] | None = None,
        *,
        max_reset_wait: float | None = None,
    ) -> float:
        """Book the earliest slot the shared windows allow and wait for it.

        Args:
            max_wait: The longest wait allowed for pacing.
            before_wait: Called with the delay and its reason just before a wait.
            max_reset_wait: The longest wait allowed when a server hold applies.

        Returns:
            How long it waited, in seconds.

        Raises:
            PacingTooLongError: The wait would exceed its limit (nothing is booked).
        """
        reset_limit = max_wait if max_reset_wait is None else max_reset_wait
        async with self._lock:
            waited = 0.0
            while True:
                if not self._redis_usable():
                    # The local windows carry the margin, as the shared ones do.
                    waited += await self._fallback.acquire(
                        max_wait + self._slack, before_wait, max_reset_wait=reset_limit
                    )
                    self._unshared.append(anyio.current_time())
                    return waited
                if self._down:
                    try:
                        await self._come_back()
                    except anyio.get_cancelled_exc_class():
                        raise
                    except Exception as exc:  # redis errors, OSError: still unreachable
                        self._went_down(exc)
                        continue
                settle = self._settling_delay()
                if settle > 0:
                    if settle > max_wait + self._slack:
                        raise PacingTooLongError(settle, "rate_limit", max_wait)
                    if before_wait is not None:
                        before_wait(settle, "rate_limit")
                    await anyio.sleep(settle)
                    waited += settle
                    continue
                member = f"{self._token}:{next(self._counter)}"
                try:
                    wait_ms, held, booked, slot = await self._reserve(
                        keys=[self._hold_key, *self._window_keys],
                        args=[
                            member,
                            int((max_wait + self._slack) * 1000),
                            int(reset_limit * 1000),
                            *self._window_args,
                        ],
                    )
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:  # redis errors, OSError: Redis is unreachable
                    self._went_down(exc)
                    continue
                delay = int(wait_ms) / 1000
                reason: WaitReason = "server_reset" if int(held) else "rate_limit"
                if not int(booked):
                    raise PacingTooLongError(
                        delay, reason, reset_limit if reason == "server_reset" else max_wait
                    )
                if delay <= 0:
                    self._fallback.note_sent()
                    return waited
                if before_wait is not None:
                    before_wait(delay, reason)
                await anyio.sleep(delay)
                waited += delay
                if not await self._held_past(int(slot)):
                    self._fallback.note_sent()
                    return waited
                # Another process was told the window is used up while this call slept: its
                # booked slot is given up (never sent early) and a new one booked.

    async def _held_past(self, slot: int) -> bool:
        """Whether a hold now ends after the booked slot (set or extended by another
        process while this call slept). Both times are Redis's: the comparison does not
        depend on how exactly this process's sleep matched Redis's clock."""
        try:
            end = await self._hold_end(keys=[self._hold_key])
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            self._went_down(exc)
            return False
        return int(end) > slot

    async def hold(self, seconds: float) -> None:
        """Hold every process's calls for ``seconds`` (the server's window is used up)."""
        self._fallback.block_for(seconds)
        if not self._redis_usable():
            return
        # Also when this process is still pacing locally but due to try Redis again: a hold
        # that reaches Redis protects the processes that are already back.
        try:
            await self._hold(keys=[self._hold_key], args=[max(1, math.ceil(seconds * 1000))])
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            self._went_down(exc)

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        with anyio.CancelScope(shield=True):
            await self._redis.aclose()
