"""End to end: the emulator sends real signed deliveries to our receivers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fastapi import FastAPI

from tests.integrations.helpers import Recorder, serve_aiohttp, serve_asgi
from visiono_async import VisionoClient
from visiono_async.integrations.aiohttp import webhook_handler
from visiono_async.integrations.fastapi import webhook_router
from visiono_async.testing import VisionoEmulator
from visiono_async.webhooks import (
    EventStatus,
    PhotoRequestCreated,
    PhotoRequestFirstViewed,
    PhotoRequestSubmitted,
    PhotoSubmissionCreated,
    UnknownEvent,
    WebhookReceiver,
)

PATH = "/webhooks/visiono"
EVENTS = [
    "photo_request.created",
    "photo_request.first_viewed",
    "photo_submission.created",
    "photo_request.submitted",
    "photo_request.expired",
]


class Secret:
    """The endpoint secret, known only once the endpoint is registered."""

    value = ""

    def __call__(self) -> str:
        return self.value


@pytest.fixture
async def emu() -> AsyncIterator[VisionoEmulator]:
    """An emulator whose retry schedule (1, 5, 30 min) runs in 0.06, 0.3 and 1.8 s."""
    async with VisionoEmulator(
        webhook_time_factor=0.001, rate_limit_per_minute=10_000, rate_limit_per_hour=100_000
    ) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: VisionoEmulator) -> AsyncIterator[VisionoClient]:
    async with VisionoClient(
        api_key=emu.create_api_key(), base_url=emu.base_url, rate_limit=None
    ) as c:
        yield c


async def collect_photos(client: VisionoClient, emu: VisionoEmulator) -> Any:
    """A request for two required photos, viewed and completed: five events."""
    pr = await client.photo_requests.create(
        instructions="Photos of the damage",
        items=[
            {"instructions": "Front", "is_required": True},
            {"instructions": "Back", "is_required": True},
        ],
    )
    await emu.simulate_view(pr.id)
    for item in pr.items:
        await emu.simulate_submission(pr.id, item.id, size=2_000)
    return pr


class TestFastAPIReceiver:
    async def test_every_event_arrives_verified_typed_and_once(
        self, emu: VisionoEmulator, client: VisionoClient
    ) -> None:
        """A photo request's whole life reaches the handler as typed events, in order."""
        secret, recorder = Secret(), Recorder()
        receiver = WebhookReceiver(secret, recorder)
        app = FastAPI()
        app.include_router(webhook_router(receiver))
        async with serve_asgi(app) as url:
            endpoint = await client.webhooks.create(url=url + PATH, events=EVENTS)
            assert endpoint.secret is not None
            secret.value = endpoint.secret
            pr = await collect_photos(client, emu)
            deliveries = await emu.wait_for_deliveries(5, timeout=30)
            submitted = await receiver.store.wait_for(
                pr.id, events=[PhotoRequestSubmitted], after=pr.created_at, timeout=30
            )
            await recorder.wait_until(lambda: len(recorder.events) == 5)
        assert all(d.delivered for d in deliveries)
        assert [
            PhotoRequestCreated,
            PhotoRequestFirstViewed,
            PhotoSubmissionCreated,
            PhotoSubmissionCreated,
            PhotoRequestSubmitted,
        ] == [type(e) for e in recorder.events]
        assert {pr.id} == {e.photo_request_id for e in recorder.events}
        assert [d.id for d in deliveries] == [e.delivery_id for e in recorder.events]
        assert {emu.tenant_id} == {e.tenant_id for e in recorder.events}
        assert isinstance(submitted.event, PhotoRequestSubmitted)
        assert 2 == submitted.event.photo_request.submissions_count
        uploads = [e for e in recorder.events if isinstance(e, PhotoSubmissionCreated)]
        assert [i.id for i in pr.items] == [e.submission.item_id for e in uploads]

    async def test_a_retried_delivery_is_handled_once(
        self, emu: VisionoEmulator, client: VisionoClient
    ) -> None:
        """The receiver answers 500 once; Visiono's retry (same id, same body) succeeds."""
        secret, recorder = Secret(), Recorder(failures=1)
        receiver = WebhookReceiver(secret, recorder, ack="after_handler")
        app = FastAPI()
        app.include_router(webhook_router(receiver))
        async with serve_asgi(app) as url:
            endpoint = await client.webhooks.create(
                url=url + PATH, events=["photo_request.created"]
            )
            assert endpoint.secret is not None
            secret.value = endpoint.secret
            pr = await client.photo_requests.create(instructions="One photo")
            [delivery] = await emu.wait_for_deliveries(1, timeout=30)
        assert [500, 200] == [a.status_code for a in delivery.attempts]
        assert delivery.delivered
        assert 2 == recorder.calls
        [event] = recorder.events
        assert (delivery.id, pr.id) == (event.delivery_id, event.photo_request_id)
        [stored] = await receiver.store.list_events(pr.id)
        assert (EventStatus.HANDLED, 2, "RuntimeError: handler failure 1") == (
            stored.status,
            stored.attempts,
            stored.last_error,
        )

    async def test_a_receiver_with_the_wrong_secret_rejects_every_attempt(
        self, emu: VisionoEmulator, client: VisionoClient
    ) -> None:
        """Deliveries signed with another secret get 400 on every attempt, nothing stored."""
        recorder = Recorder()
        receiver = WebhookReceiver("whsec_not_the_endpoint_secret", recorder)
        app = FastAPI()
        app.include_router(webhook_router(receiver))
        async with serve_asgi(app) as url:
            await client.webhooks.create(url=url + PATH, events=["photo_request.created"])
            pr = await client.photo_requests.create(instructions="One photo")
            [delivery] = await emu.wait_for_deliveries(1, timeout=30)
        assert {400} == {a.status_code for a in delivery.attempts}
        assert not delivery.delivered
        assert 0 == recorder.calls
        assert [] == await receiver.store.list_events(pr.id)


class TestAiohttpReceiver:
    async def test_events_replays_and_test_deliveries(
        self, emu: VisionoEmulator, client: VisionoClient
    ) -> None:
        """Deliveries arrive typed; a replayed delivery is a duplicate; tests are Unknown."""
        secret, recorder = Secret(), Recorder()
        receiver = WebhookReceiver(secret, recorder)
        app = web.Application()
        app.router.add_post(PATH, webhook_handler(receiver))
        async with serve_aiohttp(app) as url, aiohttp.ClientSession() as http:
            endpoint = await client.webhooks.create(url=url + PATH, events=EVENTS)
            assert endpoint.secret is not None
            secret.value = endpoint.secret
            pr = await collect_photos(client, emu)
            deliveries = await emu.wait_for_deliveries(5, timeout=30)
            await recorder.wait_until(lambda: len(recorder.events) == 5)
            # An attacker (or a proxy) re-sends a captured delivery, under a fresh id too.
            captured = deliveries[-1]
            for delivery_id in (captured.id, "dlv_forged"):
                headers = {**captured.headers, "X-Visiono-Delivery": delivery_id}
                async with http.post(url + PATH, data=captured.body, headers=headers) as r:
                    assert (200, {"status": "duplicate"}) == (r.status, await r.json())
            await client.webhooks.test(endpoint.id)
            await recorder.wait_until(lambda: len(recorder.events) == 6)
        assert 6 == recorder.calls
        assert isinstance(recorder.events[4], PhotoRequestSubmitted)
        assert pr.id == recorder.events[4].photo_request_id
        test_event = recorder.events[5]
        assert isinstance(test_event, UnknownEvent)
        assert "webhook.test" == test_event.type
        assert endpoint.id == test_event.data["webhook"]["id"]
