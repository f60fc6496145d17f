"""The Redis event store (``redis.asyncio``, the ``redis`` extra): one store for many replicas.

De-duplication, storage, eviction and the handler claim each run as one Lua script, so they
are atomic across every process that shares the server. Expiry is Redis's own (``PX``),
and ``wait_for`` blocks on a pub/sub channel per photo request instead of polling.
Targets a single Redis server (or a primary), not Redis Cluster.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import anyio

from ..._extras import require_extra

with require_extra("redis", "RedisEventStore"):
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

from .._events import WebhookEvent, parse_event
from ._base import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_TTL,
    AddResult,
    Changes,
    EventStatus,
    EventStore,
    StoredEvent,
    describe_error,
    namespace_of,
)

__all__ = ["RedisEventStore"]

DEFAULT_PREFIX = "visiono:webhooks"

_FIELDS = [
    "request_id",
    "raw_body",
    "delivery_id",
    "tenant_id",
    "received_at",
    "status",
    "attempts",
    "last_error",
]

# KEYS: seen-by-digest, seen-by-delivery, event hash, request zset, pending zset, sequence,
#       claim. ARGV: digest, ttl ms, max events, raw body, delivery id, tenant id,
#       request id, received at, lease ms (0: none), event key prefix, claim key prefix,
#       channel.
_ADD = """
local existing = redis.call('GET', KEYS[2]) or redis.call('GET', KEYS[1])
if existing then return {0, existing} end
local digest, ttl = ARGV[1], tonumber(ARGV[2])
redis.call('SET', KEYS[1], digest, 'PX', ttl)
redis.call('SET', KEYS[2], digest, 'PX', ttl)
redis.call('HSET', KEYS[3], 'request_id', ARGV[7], 'raw_body', ARGV[4],
           'delivery_id', ARGV[5], 'tenant_id', ARGV[6], 'received_at', ARGV[8],
           'status', 'pending', 'attempts', 0, 'last_error', '')
redis.call('PEXPIRE', KEYS[3], ttl)
if tonumber(ARGV[9]) > 0 then redis.call('SET', KEYS[7], '1', 'PX', ARGV[9]) end
local seq = redis.call('INCR', KEYS[6])
redis.call('ZADD', KEYS[4], seq, digest)
redis.call('ZADD', KEYS[5], seq, digest)
local live = {}
for _, d in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  if redis.call('EXISTS', ARGV[10] .. d) == 1 then
    live[#live + 1] = d
  else
    redis.call('ZREM', KEYS[4], d)
    redis.call('ZREM', KEYS[5], d)
  end
end
for i = 1, #live - tonumber(ARGV[3]) do
  local d = live[i]
  redis.call('DEL', ARGV[10] .. d, ARGV[11] .. d)
  redis.call('ZREM', KEYS[4], d)
  redis.call('ZREM', KEYS[5], d)
end
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('PEXPIRE', KEYS[5], ttl)
redis.call('PUBLISH', ARGV[12], digest)
return {1, digest}
"""

# KEYS: event hash, claim. ARGV: lease ms.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'handled' then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""

# KEYS: event hash, claim, pending zset. ARGV: status, error ('' keeps the last), digest.
_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[2]) end
redis.call('DEL', KEYS[2])
if ARGV[1] == 'handled' then redis.call('ZREM', KEYS[3], ARGV[3]) end
return 1
"""


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8") if value else None


class _PubSubChanges:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def wait(self) -> None:
        while True:
            # timeout=None blocks on the socket; subscribe confirmations come back as None.
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None:
                return


class RedisEventStore(EventStore):
    """Events in Redis, shared by every replica of a service.

    Args:
        url: A Redis URL (``"redis://127.0.0.1:6379/0"``); or pass ``client``.
        client: An existing ``redis.asyncio.Redis`` (created with the default
            ``decode_responses=False``); the store does not close it.
        prefix: The prefix of every key and channel the store uses.
        max_events: Events kept per photo request.
        ttl: Seconds an event and its de-duplication marks are kept (Redis expiry).
        clock: The time source for ``received_at``, unix seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        max_events: int = DEFAULT_MAX_EVENTS,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_events=max_events, ttl=ttl)
        if (url is None) == (client is None):
            raise TypeError("pass exactly one of url and client")
        self._owns_client = client is None
        self._redis: Redis = client if client is not None else Redis.from_url(str(url))
        self._prefix = prefix
        self._clock = clock
        self._add_script = self._redis.register_script(_ADD)
        self._claim_script = self._redis.register_script(_CLAIM)
        self._finish_script = self._redis.register_script(_FINISH)

    def __repr__(self) -> str:
        # The URL may carry a password, so it is not shown.
        return (
            f"RedisEventStore(prefix={self._prefix!r}, max_events={self.max_events},"
            f" ttl={self.ttl:g})"
        )

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _ms(self, seconds: float) -> int:
        return max(1, round(seconds * 1000))

    def _stored(self, values: Sequence[bytes | None], event: WebhookEvent | None) -> StoredEvent:
        request_id, raw_body, delivery_id, tenant_id, received_at, status, attempts, error = values
        # The add script writes every field, and callers skip hashes that have expired.
        assert request_id is not None
        assert raw_body is not None
        assert received_at is not None
        if event is None:
            event = parse_event(
                raw_body, delivery_id=_text(delivery_id), tenant_id=_text(tenant_id)
            )
        return StoredEvent(
            event=event,
            request_id=request_id.decode("utf-8"),
            received_at=datetime.fromtimestamp(float(received_at), tz=timezone.utc),
            status=EventStatus((status or b"pending").decode("utf-8")),
            attempts=int(attempts or 0),
            last_error=_text(error),
        )

    async def _fetch(self, digests: Sequence[str]) -> list[StoredEvent | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hmget(self._key("event", digest), _FIELDS)
            rows: list[list[bytes | None]] = await pipe.execute()
        return [self._stored(row, None) if row[0] is not None else None for row in rows]

    async def _members(self, key: str, start: int, stop: int) -> list[str]:
        members: list[Any] = await self._redis.zrange(key, start, stop)
        return [_decoded(m) for m in members]

    async def add(self, event: WebhookEvent, *, lease: float | None = None) -> AddResult:
        digest = event.digest
        request_id = namespace_of(event)
        seen_digest = self._key("seen", "dig", digest)
        seen_delivery = (
            self._key("seen", "dlv", event.delivery_id) if event.delivery_id else seen_digest
        )
        received_at = self._clock()
        created, found = await self._add_script(
            keys=[
                seen_digest,
                seen_delivery,
                self._key("event", digest),
                self._key("request", request_id),
                self._key("pending"),
                self._key("sequence"),
                self._key("claim", digest),
            ],
            args=[
                digest,
                self._ms(self.ttl),
                self.max_events,
                event.raw_body,
                event.delivery_id or "",
                event.tenant_id or "",
                request_id,
                repr(received_at),
                self._ms(lease) if lease is not None else 0,
                self._key("event", ""),
                self._key("claim", ""),
                self._key("added", request_id),
            ],
        )
        if not created:
            return AddResult(created=False, stored=(await self._fetch([_decoded(found)]))[0])
        stored = StoredEvent(
            event=event,
            request_id=request_id,
            received_at=datetime.fromtimestamp(received_at, tz=timezone.utc),
        )
        return AddResult(created=True, stored=stored)

    async def _load(self, request_id: str) -> list[StoredEvent]:
        digests = await self._members(self._key("request", request_id), 0, -1)
        return [s for s in await self._fetch(digests) if s is not None]

    async def claim(self, stored: StoredEvent, *, lease: float) -> bool:
        claimed = await self._claim_script(
            keys=[self._key("event", stored.digest), self._key("claim", stored.digest)],
            args=[self._ms(lease)],
        )
        return bool(claimed)

    async def _finish(self, stored: StoredEvent, status: EventStatus, error: str) -> None:
        await self._finish_script(
            keys=[
                self._key("event", stored.digest),
                self._key("claim", stored.digest),
                self._key("pending"),
            ],
            args=[status.value, error, stored.digest],
        )

    async def mark_handled(self, stored: StoredEvent) -> None:
        await self._finish(stored, EventStatus.HANDLED, "")

    async def mark_failed(self, stored: StoredEvent, error: BaseException | str) -> None:
        await self._finish(stored, EventStatus.FAILED, describe_error(error))

    async def pending(self, *, limit: int = 100) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        start = 0
        while len(found) < limit:
            digests = await self._members(self._key("pending"), start, start + limit - 1)
            if not digests:
                break
            start += len(digests)
            async with self._redis.pipeline(transaction=False) as pipe:
                for digest in digests:
                    pipe.exists(self._key("claim", digest))
                claims: list[int] = await pipe.execute()
            unclaimed = [d for d, claimed in zip(digests, claims, strict=True) if not claimed]
            found.extend(
                s
                for s in await self._fetch(unclaimed)
                if s is not None and s.status is not EventStatus.HANDLED
            )
        return found[:limit]

    def _changes(self, request_id: str) -> AbstractAsyncContextManager[Changes]:
        return self._subscribe(self._key("added", request_id))

    @asynccontextmanager
    async def _subscribe(self, channel: str) -> AsyncIterator[Changes]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            # Wait for the confirmation: from then on no publication can be missed.
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None and message["type"] == "subscribe":
                    break
            yield _PubSubChanges(pubsub)
        finally:
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def aclose(self) -> None:
        """Close the Redis connection pool, unless the client was passed in."""
        if self._owns_client:
            await self._redis.aclose()


def _decoded(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
