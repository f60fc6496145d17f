"""Fixtures for the webhook tests: every event-store backend behind one interface."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from tests.webhooks.helpers import FakeClock, redis_server
from visiono_async.webhooks import EventStore, MemoryEventStore, SQLiteEventStore


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the session (each store uses its own key prefix)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@attrs.define
class Backend:
    """How to make stores of one backend, and how to let time pass for them."""

    name: str
    make: Callable[..., EventStore]
    advance: Callable[[float], Awaitable[None]]
    opened: list[EventStore] = attrs.field(factory=list)

    def store(self, **options: Any) -> EventStore:
        """A new store (closed at the end of the test)."""
        store = self.make(**options)
        self.opened.append(store)
        return store


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn; time is faked where the backend allows it."""
    clock = FakeClock()

    async def advance_clock(seconds: float) -> None:
        clock.advance(seconds)

    if request.param == "memory":
        backend = Backend(
            "memory", lambda **options: MemoryEventStore(clock=clock, **options), advance_clock
        )
    elif request.param == "sqlite":
        path = tmp_path / "events.sqlite3"
        backend = Backend(
            "sqlite",
            lambda **options: SQLiteEventStore(path, clock=clock, poll_interval=0.05, **options),
            advance_clock,
        )
    else:
        url = request.getfixturevalue("redis_url")
        from visiono_async.webhooks.stores import RedisEventStore

        prefix = f"test:{uuid.uuid4().hex}"
        # Redis expires keys on its own clock, so time really has to pass.
        backend = Backend(
            "redis", lambda **options: RedisEventStore(url, prefix=prefix, **options), anyio.sleep
        )
    try:
        yield backend
    finally:
        for store in backend.opened:
            await store.aclose()
