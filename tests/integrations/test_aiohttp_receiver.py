"""The aiohttp receiver, over a real aiohttp server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from tests.integrations.helpers import Recorder, post, serve_aiohttp
from visiono_async.integrations.aiohttp import receiver_context, webhook_handler
from visiono_async.webhooks import (
    EventStatus,
    PhotoSubmissionCreated,
    SQLiteEventStore,
    WebhookEvent,
    WebhookReceiver,
    build_delivery,
)

SECRET = "whsec_aiohttp_tests"
PATH = "/webhooks/visiono"
DATA = {
    "photo_request": {"id": "pr_1", "status": "in_progress"},
    "submission": {"id": "ps_1", "item_id": "pri_1", "mime_type": "image/jpeg"},
}


def app_for(receiver: WebhookReceiver) -> web.Application:
    app = web.Application()
    app.router.add_post(PATH, webhook_handler(receiver))
    return app


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class TestWebhookHandler:
    async def test_a_valid_delivery_is_acknowledged_and_handled(
        self, http: aiohttp.ClientSession
    ) -> None:
        """A signed delivery gets 202 and the handler receives the typed event."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        async with serve_aiohttp(app_for(receiver)) as url:
            assert (202, {"status": "accepted"}) == await post(http, url + PATH, delivery)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        [event] = recorder.events
        assert isinstance(event, PhotoSubmissionCreated)
        assert "ps_1" == event.submission.id

    async def test_the_response_is_sent_before_a_slow_handler_finishes(
        self, http: aiohttp.ClientSession
    ) -> None:
        """The 202 arrives while the handler is still running."""
        release, done = anyio.Event(), anyio.Event()
        finished: list[WebhookEvent] = []

        async def slow(event: WebhookEvent) -> None:
            await release.wait()
            finished.append(event)
            done.set()

        receiver = WebhookReceiver(SECRET, slow)
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        async with serve_aiohttp(app_for(receiver)) as url:
            assert 202 == (await post(http, url + PATH, delivery))[0]
            assert [] == finished
            release.set()
            with anyio.fail_after(10):
                await done.wait()

    async def test_bad_signature_and_duplicates(self, http: aiohttp.ClientSession) -> None:
        """400 for a forged delivery, 200 for a duplicate; the handler ran once."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        forged = build_delivery("photo_submission.created", DATA, "whsec_other")
        async with serve_aiohttp(app_for(receiver)) as url:
            assert 400 == (await post(http, url + PATH, forged))[0]
            assert 202 == (await post(http, url + PATH, delivery))[0]
            await recorder.wait_until(lambda: recorder.calls == 1)
            assert (200, {"status": "duplicate"}) == await post(http, url + PATH, delivery)
        assert 1 == recorder.calls

    async def test_concurrent_duplicate_deliveries_are_handled_once(
        self, http: aiohttp.ClientSession
    ) -> None:
        """100 concurrent deliveries of one event: stored once, handler once."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        statuses: list[int] = []
        async with serve_aiohttp(app_for(receiver)) as url:

            async def deliver() -> None:
                statuses.append((await post(http, url + PATH, delivery))[0])

            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(deliver)
            await recorder.wait_until(lambda: recorder.calls == 1)
        assert [202] + [200] * 99 == sorted(statuses, reverse=True)
        assert 1 == recorder.calls

    async def test_a_failing_handler_leaves_the_event_pending(
        self, http: aiohttp.ClientSession
    ) -> None:
        """The handler's exception is logged, the event stays failed, a retry handles it."""
        recorder = Recorder(failures=1)
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        async with serve_aiohttp(app_for(receiver)) as url:
            assert 202 == (await post(http, url + PATH, delivery))[0]
            await recorder.wait_until(lambda: recorder.calls == 1)
            [pending] = await receiver.store.pending()
            assert EventStatus.FAILED == pending.status
            assert 202 == (await post(http, url + PATH, delivery))[0]
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert [] == await receiver.store.pending()


class TestReceiverContext:
    async def test_redelivers_at_startup_and_closes_the_store(self, tmp_path: Path) -> None:
        """cleanup_ctx handles what a previous run left pending, then closes the store."""
        path = tmp_path / "events.sqlite3"
        delivery = build_delivery("photo_submission.created", DATA, SECRET)
        crashed = WebhookReceiver(SECRET, Recorder(failures=1), store=SQLiteEventStore(path))
        reception = await crashed.receive(delivery.body, delivery.headers)
        assert reception.run is not None
        await reception.run()
        await crashed.aclose()

        recorder = Recorder()
        store = SQLiteEventStore(path)
        receiver = WebhookReceiver(SECRET, recorder, store=store)
        app = app_for(receiver)
        app.cleanup_ctx.append(receiver_context(receiver))
        async with serve_aiohttp(app):
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        with pytest.raises(RuntimeError, match="closed"):
            await store.pending()
