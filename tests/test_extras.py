"""Optional extras: a missing one is an ImportError that says what to install.

Each test runs a child Python in which the extra's package cannot be imported.
"""

from __future__ import annotations

from tests.blocked_imports import run_without


class TestMissingExtras:
    def test_redis_event_store_names_the_redis_extra(self) -> None:
        """Without redis, importing RedisEventStore says: pip install 'visiono-async[redis]'."""
        result = run_without(
            {"redis"},
            "from visiono_async import MissingExtraError\n"
            "try:\n"
            "    from visiono_async.webhooks import RedisEventStore\n"
            "except MissingExtraError as exc:\n"
            "    assert isinstance(exc, ImportError)\n"
            "    print(exc.extra, '|', exc.name, '|', exc)\n",
        )
        assert 0 == result.returncode, result.stderr
        extra, name, message = (part.strip() for part in result.stdout.split("|"))
        assert "redis" == extra
        assert name.startswith("redis")
        assert message.startswith(
            "RedisEventStore needs the 'redis' extra: pip install 'visiono-async[redis]'"
        )

    def test_the_fastapi_integration_names_the_fastapi_extra(self) -> None:
        """Without fastapi, the integration's import error names the extra to install."""
        result = run_without(
            {"fastapi", "starlette"}, "import visiono_async.integrations.fastapi\n"
        )
        assert 0 != result.returncode
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("visiono_async._extras.MissingExtraError: ")
        assert "pip install 'visiono-async[fastapi]'" in last
        assert "No module named 'fastapi'" in result.stderr  # the cause stays in the chain

    def test_the_arq_integration_names_the_arq_extra(self) -> None:
        """Without arq, the integration's import error names the extra to install."""
        result = run_without({"arq"}, "import visiono_async.integrations.arq\n")
        assert 0 != result.returncode
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("visiono_async._extras.MissingExtraError: ")
        assert "pip install 'visiono-async[arq]'" in last

    def test_a_shared_budget_names_the_redis_extra(self) -> None:
        """Without redis, a client given RateLimit(redis_url=...) raises MissingExtraError
        naming the extra, when it makes its budget (nothing is sent)."""
        result = run_without(
            {"redis"},
            "from visiono_async import MissingExtraError, RateLimit, VisionoClient\n"
            "limit = RateLimit(redis_url='redis://localhost:1/0')\n"
            "try:\n"
            "    VisionoClient(api_key='vk_test', rate_limit=limit)\n"
            "except MissingExtraError as exc:\n"
            "    print(exc.extra, '|', exc)\n",
        )
        assert 0 == result.returncode, result.stderr
        extra, message = (part.strip() for part in result.stdout.split("|"))
        assert "redis" == extra
        assert message.startswith(
            "RateLimit(redis_url=...) needs the 'redis' extra: pip install 'visiono-async[redis]'"
        )

    def test_the_core_and_the_other_stores_need_no_extra(self) -> None:
        """The client, webhooks, the SQLite store and the emulator import with neither."""
        result = run_without(
            {"redis", "fastapi", "starlette", "rich", "uvloop"},
            "import visiono_async, visiono_async.testing, visiono_async.integrations.aiohttp\n"
            "from visiono_async.webhooks import MemoryEventStore, SQLiteEventStore, construct_event\n"
            "from visiono_async.webhooks.stores import MemoryEventStore as Same\n"
            "assert Same is MemoryEventStore\n"
            "print('imported')\n",
        )
        assert 0 == result.returncode, result.stderr
        assert "imported" == result.stdout.strip()


class TestRedisEventStoreExport:
    def test_it_imports_from_visiono_async_webhooks(self) -> None:
        """With the extra installed it is the store of visiono_async.webhooks.stores."""
        from visiono_async.webhooks import RedisEventStore
        from visiono_async.webhooks.stores import RedisEventStore as FromStores

        assert RedisEventStore is FromStores
        import visiono_async.webhooks as webhooks

        assert "RedisEventStore" in webhooks.__all__

    def test_an_unknown_name_is_still_an_attribute_error(self) -> None:
        """The lazy import answers only for RedisEventStore."""
        import pytest

        import visiono_async.webhooks as webhooks

        with pytest.raises(AttributeError, match="NoSuchStore"):
            webhooks.NoSuchStore  # noqa: B018
