"""``client.webhooks`` against the emulator, with a real receiver on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from visiono_async import APIError, NotFoundError, ValidationError, VisionoClient
from visiono_async.models import WebhookEventInfo

DOCUMENTED_EVENTS = [
    "photo_request.created",
    "photo_request.first_viewed",
    "photo_submission.created",
    "photo_request.submitted",
    "photo_request.expired",
]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A loopback HTTP receiver that answers 200 and keeps each delivery's headers."""
    deliveries: list[dict[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        deliveries.append(dict(request.headers))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", deliveries
    finally:
        await runner.cleanup()


class TestCreate:
    """``create`` returns the endpoint with its secret, once."""

    async def test_secret_only_on_create(self, client: VisionoClient) -> None:
        """The created endpoint has a secret; a later ``get`` and ``list`` do not."""
        wh = await client.webhooks.create(
            url="https://example.com/hook", events=DOCUMENTED_EVENTS[:2], description="CRM"
        )
        fetched = await client.webhooks.get(wh.id)
        listed = [w async for w in client.webhooks.list()]
        assert (True, True, None, [None]) == (
            wh.id.startswith("wh_"),
            bool(wh.secret),
            fetched.secret,
            [w.secret for w in listed],
        )

    async def test_secret_never_in_repr(self, client: VisionoClient) -> None:
        """Neither ``repr`` nor ``str`` of the endpoint shows the secret."""
        wh = await client.webhooks.create(
            url="https://example.com/hook", events=["photo_request.created"]
        )
        assert wh.secret is not None
        assert (False, False) == (wh.secret in repr(wh), wh.secret in str(wh))

    async def test_fields(self, client: VisionoClient) -> None:
        """URL, events, description and active flag come back as sent."""
        wh = await client.webhooks.create(
            url="https://example.com/hook", events=["photo_request.submitted"], description="CRM"
        )
        assert ("https://example.com/hook", ["photo_request.submitted"], "CRM", True) == (
            wh.url,
            wh.events,
            wh.description,
            wh.is_active,
        )

    async def test_unknown_event(self, client: VisionoClient) -> None:
        """An event name the API does not know is a ``ValidationError``."""
        with pytest.raises(ValidationError):
            await client.webhooks.create(url="https://example.com/hook", events=["nope"])


class TestUpdateAndDelete:
    """``update`` PATCHes some fields; ``delete`` removes the endpoint."""

    async def test_update(self, client: VisionoClient) -> None:
        """Changed fields change; the URL stays."""
        wh = await client.webhooks.create(url="https://example.com/hook", events=DOCUMENTED_EVENTS)
        updated = await client.webhooks.update(
            wh.id, events=["photo_request.expired"], is_active=False
        )
        assert ("https://example.com/hook", ["photo_request.expired"], False) == (
            updated.url,
            updated.events,
            updated.is_active,
        )

    @pytest.mark.parametrize("answer", ["object", "empty", "no_content"])
    async def test_delete(self, client: VisionoClient, emulator: Any, answer: str) -> None:
        """After ``delete`` the endpoint is gone, whatever form the answer takes."""
        wh = await client.webhooks.create(url="https://example.com/hook", events=DOCUMENTED_EVENTS)
        emulator.delete_answer = answer
        assert None is await client.webhooks.delete(wh.id)
        with pytest.raises(NotFoundError):
            await client.webhooks.get(wh.id)


class TestTest:
    """``test`` sends a test event to the endpoint now."""

    async def test_delivered(
        self, client: VisionoClient, receiver: tuple[str, list[dict[str, str]]]
    ) -> None:
        """The receiver gets one delivery whose id the result reports."""
        url, deliveries = receiver
        wh = await client.webhooks.create(url=url, events=DOCUMENTED_EVENTS)
        result = await client.webhooks.test(wh.id)
        assert (True, 200, [result.delivery_id]) == (
            result.delivered,
            result.status_code,
            [d.get("X-Visiono-Delivery") for d in deliveries],
        )


class TestEvents:
    """``events`` lists what an endpoint can subscribe to."""

    async def test_documented_events(self, client: VisionoClient) -> None:
        """The five documented events and Workflow Mode's, each with a description."""
        events = await client.webhooks.events()
        assert ([*DOCUMENTED_EVENTS, "submission.created"], True, {WebhookEventInfo}) == (
            [e.name for e in events],
            all(e.description for e in events),
            {type(e) for e in events},
        )

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(["a.b", "c.d"], id="names"),
            pytest.param({"data": ["a.b", "c.d"]}, id="names-in-data"),
            pytest.param([{"name": "a.b", "description": "A"}, {"name": "c.d"}], id="objects"),
            pytest.param([{"event": "a.b", "description": "A"}, {"event": "c.d"}], id="event-key"),
            pytest.param({"events": ["a.b", "c.d"]}, id="events-object"),
            pytest.param({"data": {"events": [{"name": "a.b"}, "c.d"]}}, id="events-in-data"),
            pytest.param({"a.b": "A", "c.d": None}, id="name-to-description"),
        ],
    )
    async def test_every_plausible_shape(
        self, client: VisionoClient, emulator: Any, body: Any
    ) -> None:
        """The shape is undocumented: names, objects (``name`` or ``event``), ``{"events"}``
        and a name -> description map all give the same list."""
        emulator.faults.fail_next(1, status=200, path="/webhooks/events", body=body)
        events = await client.webhooks.events()
        assert ["a.b", "c.d"] == [e.name for e in events]
        assert {None, "A"} >= {e.description for e in events}

    @pytest.mark.parametrize(
        ("body", "shape"),
        [
            pytest.param([1, 2], "a list of int", id="numbers"),
            pytest.param({"events": "a.b"}, "an object with events", id="events-not-a-list"),
            pytest.param({"count": 2, "items": []}, "an object with count, items", id="other"),
        ],
    )
    async def test_an_unknown_shape_is_a_clear_error(
        self, client: VisionoClient, emulator: Any, body: Any, shape: str
    ) -> None:
        """Anything else is ``invalid_response`` naming what came, never an empty list."""
        emulator.faults.fail_next(1, status=200, path="/webhooks/events", body=body)
        with pytest.raises(APIError) as caught:
            await client.webhooks.events()
        assert "invalid_response" == caught.value.code
        assert shape in str(caught.value)


class TestList:
    """``list_page`` fetches one page of endpoints."""

    async def test_list_page(self, client: VisionoClient) -> None:
        """Three endpoints at two a page: the first page says more follow."""
        for n in range(3):
            await client.webhooks.create(url=f"https://example.com/{n}", events=DOCUMENTED_EVENTS)
        page = await client.webhooks.list_page(per_page=2)
        assert (2, 3, True) == (len(page.items), page.total, page.has_next)

    async def test_unknown_fields_from_the_server(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """Fields the SDK does not model stay in ``extra``."""
        body = {"data": [{"id": "wh_1", "url": "https://x", "events": [], "retries": 3}]}
        emulator.faults.fail_next(1, status=200, body=body, path="/webhooks")
        (wh,) = [w async for w in client.webhooks.list()]
        assert {"retries": 3} == wh.extra
