"""The receivers warn when a per-process event store meets several worker processes."""

from __future__ import annotations

from typing import Any

import pytest


class TestPerProcessStoreWarning:
    @pytest.mark.parametrize("framework", ["fastapi", "aiohttp"])
    def test_memory_store_with_several_workers_is_warned_about(
        self, framework: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """WEB_CONCURRENCY=2 and a MemoryEventStore: a warning names the shared stores;
        a SQLite store, or one worker, is not warned about."""
        from visiono_async.webhooks import SQLiteEventStore, WebhookReceiver

        if framework == "fastapi":
            from visiono_async.integrations.fastapi import webhook_router as make
        else:
            from visiono_async.integrations.aiohttp import webhook_handler as make  # type: ignore[assignment]

        async def handle(event: Any) -> None: ...

        monkeypatch.setenv("WEB_CONCURRENCY", "2")
        make(WebhookReceiver("whsec_x", handle))
        make(WebhookReceiver("whsec_x", handle, store=SQLiteEventStore(":memory:")))
        monkeypatch.setenv("WEB_CONCURRENCY", "1")
        make(WebhookReceiver("whsec_x", handle))
        warnings = [r.getMessage() for r in caplog.records if "per process" in r.getMessage()]
        assert 1 == len(warnings)
        assert "RedisEventStore" in warnings[0] and "WEB_CONCURRENCY=2" in warnings[0]
