"""The FastAPI receiver, through a real uvicorn server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import anyio
import pytest
from fastapi import Depends, FastAPI, Request

from tests.integrations.helpers import Recorder, post, serve_asgi
from visiono_async import VisionoClient
from visiono_async.integrations.fastapi import (
    get_client,
    verified_event,
    visiono_lifespan,
    webhook_router,
)
from visiono_async.webhooks import (
    AddResult,
    EventStatus,
    MemoryEventStore,
    PhotoRequestSubmitted,
    SQLiteEventStore,
    WebhookEvent,
    WebhookReceiver,
    build_delivery,
)

SECRET = "whsec_fastapi_tests"
PATH = "/webhooks/visiono"
SUBMITTED = {"photo_request": {"id": "pr_1", "status": "submitted", "submissions_count": 2}}


def submitted(**options: Any) -> Any:
    return build_delivery("photo_request.submitted", SUBMITTED, SECRET, **options)


def app_for(receiver: WebhookReceiver) -> FastAPI:
    app = FastAPI()
    app.include_router(webhook_router(receiver))
    return app


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class TestDelivery:
    async def test_a_valid_delivery_is_acknowledged_and_handled(
        self, http: aiohttp.ClientSession
    ) -> None:
        """A signed delivery gets 202 and the handler receives the typed, stored event."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = submitted()
        async with serve_asgi(app_for(receiver)) as url:
            assert (202, {"status": "accepted"}) == await post(http, url + PATH, delivery)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        [event] = recorder.events
        assert isinstance(event, PhotoRequestSubmitted)
        assert (delivery.delivery_id, "pr_1") == (event.delivery_id, event.photo_request.id)
        [stored] = await receiver.store.list_events("pr_1")
        assert EventStatus.HANDLED == stored.status

    async def test_a_bad_signature_is_400_and_nothing_is_stored(
        self, http: aiohttp.ClientSession
    ) -> None:
        """A wrong signature is rejected with 400 before anything is stored or handled."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        forged = build_delivery("photo_request.submitted", SUBMITTED, "whsec_attacker")
        async with serve_asgi(app_for(receiver)) as url:
            status, body = await post(http, url + PATH, forged)
        assert (400, "rejected") == (status, body["status"])
        assert "does not match" in body["detail"]
        assert [] == await receiver.store.list_events("pr_1")
        assert 0 == recorder.calls

    async def test_a_malformed_body_is_400(self, http: aiohttp.ClientSession) -> None:
        """A correctly signed body without the documented fields is rejected with 400."""
        receiver = WebhookReceiver(SECRET, Recorder())
        delivery = build_delivery("photo_request.submitted", {"photo_request": None}, SECRET)
        async with serve_asgi(app_for(receiver)) as url:
            status, body = await post(http, url + PATH, delivery)
        assert 400 == status
        assert "'data.photo_request' is missing" in body["detail"]

    async def test_a_duplicate_is_2xx_and_not_handled_again(
        self, http: aiohttp.ClientSession
    ) -> None:
        """Re-sending a handled delivery answers 200 duplicate; the handler ran once."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = submitted()
        async with serve_asgi(app_for(receiver)) as url:
            await post(http, url + PATH, delivery)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
            assert (200, {"status": "duplicate"}) == await post(http, url + PATH, delivery)
            replay = await post(http, url + PATH, delivery, **{"X-Visiono-Delivery": "dlv_new"})
            assert (200, {"status": "duplicate"}) == replay
        assert 1 == recorder.calls

    async def test_concurrent_duplicate_deliveries_are_handled_once(
        self, http: aiohttp.ClientSession
    ) -> None:
        """100 concurrent deliveries of one event: all 2xx, stored once, handler once."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = submitted()
        statuses: list[int] = []
        async with serve_asgi(app_for(receiver)) as url:

            async def deliver() -> None:
                statuses.append((await post(http, url + PATH, delivery))[0])

            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(deliver)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert [202] + [200] * 99 == sorted(statuses, reverse=True)
        assert 1 == recorder.calls
        assert 1 == len(await receiver.store.list_events("pr_1"))


class TestFailingHandler:
    async def test_the_event_is_kept_and_a_retry_runs_the_handler_again(
        self, http: aiohttp.ClientSession
    ) -> None:
        """A handler that raises still got 202; the event stays failed until a redelivery."""
        recorder = Recorder(failures=1)
        receiver = WebhookReceiver(SECRET, recorder)
        delivery = submitted()
        async with serve_asgi(app_for(receiver)) as url:
            assert 202 == (await post(http, url + PATH, delivery))[0]
            await recorder.wait_until(lambda: recorder.calls == 1)
            [failed] = await receiver.store.pending()
            assert (EventStatus.FAILED, "RuntimeError: handler failure 1") == (
                failed.status,
                failed.last_error,
            )
            # Visiono's retry of the same delivery finds the event unhandled and re-runs it.
            assert (202, {"status": "accepted"}) == await post(http, url + PATH, delivery)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
            assert (200, {"status": "duplicate"}) == await post(http, url + PATH, delivery)
        assert [] == await receiver.store.pending()
        assert 2 == recorder.calls

    async def test_redeliver_pending_handles_what_failed(self, http: aiohttp.ClientSession) -> None:
        """receiver.redeliver_pending() re-runs every failed event once."""
        recorder = Recorder(failures=2)
        receiver = WebhookReceiver(SECRET, recorder)
        first = submitted()
        second = build_delivery("photo_request.expired", {"photo_request": {"id": "pr_2"}}, SECRET)
        async with serve_asgi(app_for(receiver)) as url:
            await post(http, url + PATH, first)
            await post(http, url + PATH, second)
            await recorder.wait_until(lambda: recorder.calls == 2)
        assert 2 == len(await receiver.store.pending())
        assert 2 == await receiver.redeliver_pending()
        assert 0 == await receiver.redeliver_pending()
        assert {"pr_1", "pr_2"} == {e.photo_request_id for e in recorder.events}

    async def test_ack_after_handler_answers_500_so_visiono_retries(
        self, http: aiohttp.ClientSession
    ) -> None:
        """With ack="after_handler" a raising handler means 500, and the retry succeeds."""
        recorder = Recorder(failures=1)
        receiver = WebhookReceiver(SECRET, recorder, ack="after_handler")
        delivery = submitted()
        async with serve_asgi(app_for(receiver)) as url:
            status, body = await post(http, url + PATH, delivery)
            assert (500, "the handler failed") == (status, body["detail"])
            assert (200, {"status": "handled"}) == await post(http, url + PATH, delivery)
            assert (200, {"status": "duplicate"}) == await post(http, url + PATH, delivery)
        assert 2 == recorder.calls
        assert 1 == len(recorder.events)

    async def test_a_failing_store_answers_500(self, http: aiohttp.ClientSession) -> None:
        """When the event cannot be stored, nothing is acknowledged: 500, Visiono retries."""

        class BrokenStore(MemoryEventStore):
            async def add(self, event: WebhookEvent, *, lease: float | None = None) -> AddResult:
                raise ConnectionError("store is down")

        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder, store=BrokenStore())
        async with serve_asgi(app_for(receiver)) as url:
            status, body = await post(http, url + PATH, submitted())
        assert (500, "the event store failed") == (status, body["detail"])
        assert 0 == recorder.calls


class TestLifespan:
    async def test_one_shared_client_per_app(
        self, http: aiohttp.ClientSession, emulator: Any, api_key: str
    ) -> None:
        """Every request gets the same open VisionoClient; it is closed on shutdown."""
        app = FastAPI(lifespan=visiono_lifespan(api_key=api_key, base_url=emulator.base_url))
        seen: list[VisionoClient] = []

        @app.get("/ping")
        async def ping(client: Annotated[VisionoClient, Depends(get_client)]) -> dict[str, Any]:
            seen.append(client)
            status = await client.status()
            return {"ok": status is not None}

        async with serve_asgi(app) as url:
            for _ in range(3):
                async with http.get(url + "/ping") as response:
                    assert {"ok": True} == await response.json()
        assert 3 == len(seen)
        assert 1 == len({id(c) for c in seen})
        assert seen[0].closed

    async def test_pending_events_are_redelivered_at_startup(
        self, tmp_path: Any, emulator: Any, api_key: str
    ) -> None:
        """Events a previous run stored but never handled are handled when the app starts."""
        path = tmp_path / "events.sqlite3"
        crashed = WebhookReceiver(SECRET, Recorder(failures=1), store=SQLiteEventStore(path))
        delivery = submitted()
        reception = await crashed.receive(delivery.body, delivery.headers)
        assert reception.run is not None
        await reception.run()
        await crashed.aclose()

        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder, store=SQLiteEventStore(path))
        lifespan = visiono_lifespan(receiver=receiver, api_key=api_key, base_url=emulator.base_url)
        app = FastAPI(lifespan=lifespan)
        app.include_router(webhook_router(receiver))
        async with serve_asgi(app):
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert delivery.delivery_id == recorder.events[0].delivery_id

    async def test_get_client_without_the_lifespan_is_an_error(self) -> None:
        """Depending on get_client without visiono_lifespan fails loudly, not with None."""
        request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
        with pytest.raises(RuntimeError, match="visiono_lifespan"):
            await get_client(request)


class TestVerifiedEventDependency:
    async def test_verifies_in_a_route_of_your_own(self, http: aiohttp.ClientSession) -> None:
        """Depends(verified_event(secret)) gives the typed event, or 400 when forged."""
        app = FastAPI()

        @app.post("/hooks")
        async def hook(event: Annotated[WebhookEvent, Depends(verified_event(SECRET))]) -> Any:
            return {"type": event.type}

        async with serve_asgi(app) as url:
            assert (200, {"type": "photo_request.submitted"}) == await post(
                http, url + "/hooks", submitted()
            )
            forged = build_delivery("photo_request.submitted", SUBMITTED, "whsec_other")
            assert 400 == (await post(http, url + "/hooks", forged))[0]
