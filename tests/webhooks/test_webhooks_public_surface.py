"""The public surface of visiono_async.webhooks and its stores: explicit and sorted."""

from __future__ import annotations

import types

import pytest

import visiono_async.webhooks
import visiono_async.webhooks.stores


@pytest.mark.parametrize(
    "module",
    [visiono_async.webhooks, visiono_async.webhooks.stores],
    ids=lambda m: m.__name__,
)
def test_all_lists_exactly_the_public_names(module: types.ModuleType) -> None:
    """__all__ is sorted, every name in it resolves, and nothing public is left out."""
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert sorted(module.__all__) == module.__all__
    assert all(getattr(module, name) is not None for name in module.__all__)
    assert public <= set(module.__all__)


def test_the_redis_store_is_reachable_lazily() -> None:
    """RedisEventStore is listed and importable on demand from the stores package."""
    from visiono_async.webhooks.stores import RedisEventStore

    assert "RedisEventStore" in visiono_async.webhooks.stores.__all__
    assert RedisEventStore.__name__ == "RedisEventStore"
