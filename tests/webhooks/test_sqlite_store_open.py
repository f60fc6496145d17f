"""SQLiteEventStore: several replicas opening one new database file at the same moment."""

from __future__ import annotations

from pathlib import Path

import anyio

from tests.webhooks.helpers import make_event
from visiono_async.webhooks import SQLiteEventStore


async def test_replicas_opening_a_new_file_at_once_all_work(tmp_path: Path) -> None:
    """Eight stores racing to create and switch one file to WAL each store their event; none fails with 'database is locked'."""
    path = tmp_path / "events.sqlite3"
    stores = [SQLiteEventStore(path) for _ in range(8)]
    created: list[bool] = []

    async def add(i: int) -> None:
        result = await stores[i].add(make_event("pr_1", delivery_id=f"dlv_{i}", note=f"copy {i}"))
        created.append(result.created)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(len(stores)):
                tg.start_soon(add, i)
        assert [True] * 8 == created
        assert 8 == len(await stores[0].list_events("pr_1"))
    finally:
        for store in stores:
            await store.aclose()
