"""Event stores: received webhook events, namespaced by photo request and de-duplicated.

``MemoryEventStore`` (the default) and ``SQLiteEventStore`` need nothing beyond the SDK;
``RedisEventStore`` needs the ``redis`` extra and is imported only when first used.
"""

from __future__ import annotations

import typing

from ._base import DEFAULT_MAX_EVENTS as DEFAULT_MAX_EVENTS
from ._base import DEFAULT_TTL as DEFAULT_TTL
from ._base import UNSCOPED as UNSCOPED
from ._base import AddResult as AddResult
from ._base import EventStatus as EventStatus
from ._base import EventStore as EventStore
from ._base import StoredEvent as StoredEvent
from ._base import namespace_of as namespace_of
from ._memory import MemoryEventStore as MemoryEventStore
from ._sqlite import SQLiteEventStore as SQLiteEventStore

if typing.TYPE_CHECKING:
    from ._redis import RedisEventStore as RedisEventStore

__all__ = [
    "AddResult",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_TTL",
    "EventStatus",
    "EventStore",
    "MemoryEventStore",
    "RedisEventStore",
    "SQLiteEventStore",
    "StoredEvent",
    "UNSCOPED",
    "namespace_of",
]


def __getattr__(name: str) -> typing.Any:
    # Importing redis.asyncio costs time and needs the optional extra: only on first use.
    if name == "RedisEventStore":
        from ._redis import RedisEventStore

        return RedisEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
