"""What both receivers refuse, over real servers: stale deliveries, forged ones, huge bodies.

FastAPI runs under uvicorn and the aiohttp handler under aiohttp's server; the same
WebhookReceiver sits behind each.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fastapi import FastAPI

from tests.integrations.helpers import Recorder, post, serve_aiohttp, serve_asgi
from visiono_async.integrations.aiohttp import webhook_handler
from visiono_async.integrations.fastapi import webhook_router
from visiono_async.webhooks import WebhookReceiver, build_delivery

SECRET = "whsec_limits_tests"
PATH = "/webhooks/visiono"
SUBMITTED = {"photo_request": {"id": "pr_1", "status": "submitted"}}


@contextlib.asynccontextmanager
async def fastapi_server(receiver: WebhookReceiver) -> AsyncIterator[str]:
    app = FastAPI()
    app.include_router(webhook_router(receiver, path=PATH))
    async with serve_asgi(app) as url:
        yield url + PATH


@contextlib.asynccontextmanager
async def aiohttp_server(receiver: WebhookReceiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post(PATH, webhook_handler(receiver))
    async with serve_aiohttp(app) as url:
        yield url + PATH


Server = Callable[[WebhookReceiver], contextlib.AbstractAsyncContextManager[str]]
SERVERS = pytest.mark.parametrize(
    "server", [fastapi_server, aiohttp_server], ids=["fastapi", "aiohttp"]
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def signed(**options: Any) -> Any:
    return build_delivery("photo_request.submitted", SUBMITTED, SECRET, **options)


@SERVERS
class TestReasons:
    async def test_a_stale_delivery_is_400_stale_timestamp(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """Signed right but two hours old: 400 with reason ``stale_timestamp``, not stored."""
        receiver = WebhookReceiver(SECRET, Recorder())
        async with server(receiver) as url:
            status, body = await post(
                http, url, signed(timestamp=datetime.now(timezone.utc) - timedelta(hours=2))
            )
        assert (400, "stale_timestamp") == (status, body["reason"])
        assert "outside the 3600 second tolerance" in body["detail"]
        assert [] == await receiver.store.list_events("pr_1")

    async def test_the_replay_window_is_the_receivers_tolerance(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """``tolerance=`` widens the window (or None turns it off): the old delivery is taken."""
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder, tolerance=3 * 3600)
        async with server(receiver) as url:
            status, _ = await post(
                http, url, signed(timestamp=datetime.now(timezone.utc) - timedelta(hours=2))
            )
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert 202 == status

    async def test_a_forged_delivery_is_400_invalid_signature(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """A wrong signature: reason ``invalid_signature``."""
        receiver = WebhookReceiver(SECRET, Recorder())
        forged = build_delivery("photo_request.submitted", SUBMITTED, "whsec_attacker")
        async with server(receiver) as url:
            status, body = await post(http, url, forged)
        assert (400, "invalid_signature") == (status, body["reason"])

    async def test_a_malformed_body_is_400_invalid_payload(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """Signed right, missing its documented fields: reason ``invalid_payload``."""
        receiver = WebhookReceiver(SECRET, Recorder())
        broken = build_delivery("photo_request.submitted", {"photo_request": None}, SECRET)
        async with server(receiver) as url:
            status, body = await post(http, url, broken)
        assert (400, "invalid_payload") == (status, body["reason"])


@SERVERS
class TestBodySize:
    async def test_a_body_over_the_limit_is_413_and_not_stored(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """A body whose Content-Length is over ``max_body_size``: 413 ``too_large``.

        (Small sizes: aiohttp's server reads an unwanted body to its end before closing,
        as HTTP servers should, so a 5 MB one would only make the test slow.)
        """
        receiver = WebhookReceiver(SECRET, Recorder(), max_body_size=10_000)
        delivery = signed()
        big = io.BytesIO(b"x" * 20_000)
        async with (
            server(receiver) as url,
            http.post(url, data=big, headers=delivery.headers) as r,
        ):
            status, body = r.status, await r.json()
        assert (413, "too_large") == (status, body["reason"])
        assert [] == await receiver.store.list_events("pr_1")

    async def test_a_chunked_body_is_cut_off_at_the_limit(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """No Content-Length (chunked): reading stops once the bytes pass the limit."""
        receiver = WebhookReceiver(SECRET, Recorder(), max_body_size=10_000)
        delivery = signed()

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"x" * 1000

        async with (
            server(receiver) as url,
            http.post(url, data=chunks(), headers=delivery.headers) as r,
        ):
            status, body = r.status, await r.json()
        assert (413, "too_large") == (status, body["reason"])
        assert [] == await receiver.store.list_events("pr_1")

    async def test_a_body_at_the_limit_is_taken(
        self, server: Server, http: aiohttp.ClientSession
    ) -> None:
        """A signed delivery within ``max_body_size`` is received as usual."""
        delivery = signed()
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder, max_body_size=len(delivery.body))
        async with server(receiver) as url:
            status, _ = await post(http, url, delivery)
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert 202 == status
