"""What only the persistent backends promise: SQLite survives restarts, Redis is shared."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from tests.webhooks.helpers import make_event
from visiono_async.webhooks import SQLiteEventStore, StoredEvent
from visiono_async.webhooks.stores import EventStore, RedisEventStore


async def add_concurrently(stores: list[EventStore], copies: int = 100) -> list[bool]:
    """Add one event ``copies`` times at once, spread over ``stores``; who created it."""
    event = make_event(delivery_id="dlv_shared")
    created: list[bool] = []

    async def deliver(store: EventStore) -> None:
        created.append((await store.add(event)).created)

    async with anyio.create_task_group() as tg:
        for i in range(copies):
            tg.start_soon(deliver, stores[i % len(stores)])
    return created


class TestSQLite:
    async def test_events_survive_a_restart(self, tmp_path: Path) -> None:
        """A reopened file still has the events, their state and the de-duplication marks."""
        path = tmp_path / "events.sqlite3"
        event = make_event(delivery_id="dlv_1")
        async with SQLiteEventStore(path) as store:
            stored = (await store.add(event, lease=60)).stored
            assert stored is not None
            await store.mark_failed(stored, "ConnectionError: down")
        async with SQLiteEventStore(path) as reopened:
            [again] = await reopened.list_events("pr_1")
            assert event == again.event
            assert "ConnectionError: down" == again.last_error
            assert (await reopened.add(event)).duplicate
            assert [event.digest] == [s.digest for s in await reopened.pending()]

    async def test_two_stores_on_one_file_deduplicate_atomically(self, tmp_path: Path) -> None:
        """Stores sharing a file (as processes would) store a concurrent event once."""
        path = tmp_path / "events.sqlite3"
        async with SQLiteEventStore(path) as first, SQLiteEventStore(path) as second:
            created = await add_concurrently([first, second])
            assert 1 == created.count(True)

    async def test_wait_for_sees_another_stores_addition(self, tmp_path: Path) -> None:
        """wait_for notices an event another process (store object) added to the file."""
        path = tmp_path / "events.sqlite3"
        event = make_event()
        found: list[StoredEvent] = []
        async with (
            SQLiteEventStore(path, poll_interval=0.05) as waiter,
            SQLiteEventStore(path) as writer,
        ):

            async def wait() -> None:
                found.append(await waiter.wait_for("pr_1", timeout=10))

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                await writer.add(event)
        assert [event.digest] == [s.digest for s in found]

    async def test_a_closed_store_refuses_work(self, tmp_path: Path) -> None:
        """Using a store after aclose() is an error, not a silent reconnect."""
        store = SQLiteEventStore(tmp_path / "events.sqlite3")
        await store.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await store.list_events("pr_1")


@pytest.mark.redis
class TestRedis:
    async def test_replicas_store_a_concurrent_event_once(self, redis_url: str) -> None:
        """100 concurrent deliveries spread over 4 replicas are stored once."""
        prefix = f"test:{uuid.uuid4().hex}"
        replicas: list[EventStore] = [RedisEventStore(redis_url, prefix=prefix) for _ in range(4)]
        try:
            created = await add_concurrently(replicas)
        finally:
            for replica in replicas:
                await replica.aclose()
        assert 1 == created.count(True)

    async def test_a_waiter_on_one_replica_wakes_on_another_replicas_add(
        self, redis_url: str
    ) -> None:
        """wait_for blocks on pub/sub and wakes when any replica stores a matching event."""
        prefix = f"test:{uuid.uuid4().hex}"
        event = make_event()
        found: list[StoredEvent] = []
        async with (
            RedisEventStore(redis_url, prefix=prefix) as waiter,
            RedisEventStore(redis_url, prefix=prefix) as writer,
        ):

            async def wait() -> None:
                found.append(await waiter.wait_for("pr_1", timeout=10))

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                await writer.add(event)
        assert [event.digest] == [s.digest for s in found]

    async def test_every_key_expires_by_redis_ttl(self, redis_url: str) -> None:
        """Each key the store writes carries a Redis expiry no longer than the ttl."""
        prefix = f"test:{uuid.uuid4().hex}"
        client = Redis.from_url(redis_url)
        try:
            async with RedisEventStore(client=client, prefix=prefix, ttl=120) as store:
                await store.add(make_event(delivery_id="dlv_1"), lease=30)
            keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
            expiring = {k.decode(): await client.pttl(k) for k in keys}
            # The one exception is the insertion counter, a single integer.
            counter = expiring.pop(f"{prefix}:sequence")
            assert -1 == counter
            assert {"seen", "event", "request", "pending", "claim"} == {
                k.split(":")[2] for k in expiring
            }
            assert all(0 < ttl <= 120_000 for ttl in expiring.values())
            # A client passed in stays open for its owner.
            assert await client.ping()
        finally:
            await client.aclose()

    def test_repr_hides_the_url(self) -> None:
        """The URL may carry a password, so the repr leaves it out."""
        store = RedisEventStore("redis://:hunter2@127.0.0.1:1/0")
        assert "hunter2" not in repr(store)


def test_importing_the_sdk_does_not_import_the_extras() -> None:
    """visiono_async.webhooks works without redis and fastapi installed: no eager imports."""
    code = (
        "import sys, visiono_async, visiono_async.webhooks, visiono_async.webhooks.stores;"
        "import visiono_async.integrations;"
        "bad = sorted(m for m in ('redis', 'fastapi', 'starlette') if m in sys.modules);"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert 0 == result.returncode, result.stdout + result.stderr
