"""An aiohttp.web service that receives Visiono webhooks into a SQLite event store.

What it shows:

- ``webhook_handler(receiver)`` on ``POST /webhooks/visiono``: verified, de-duplicated,
  acknowledged before the handler runs;
- ``receiver_context(receiver)`` in ``app.cleanup_ctx``: events a crash left unhandled are
  handled at start-up, and the store is closed on shutdown;
- ``GET /photo-requests/{id}/events``: the events stored for one photo request;
- ``GET /photo-requests/{id}/wait?event=...``: the vendor's polling pattern done right
  (only that request, only events after ``after``), answered as soon as the event arrives.

Run it with the secret of an endpoint you registered (``client.webhooks.create``)::

    VISIONO_WEBHOOK_SECRET=whsec_... python examples/aiohttp_receiver.py --port 8080

With no key, against the emulator, as a scripted walk-through::

    python examples/aiohttp_receiver.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from visiono_async import VisionoClient
from visiono_async.integrations.aiohttp import receiver_context, webhook_handler
from visiono_async.webhooks import (
    EventStore,
    PhotoRequestEvent,
    PhotoSubmissionCreated,
    SQLiteEventStore,
    WebhookEvent,
    WebhookReceiver,
)
from visiono_async.webhooks.stores import StoredEvent

WEBHOOK_PATH = "/webhooks/visiono"
RECEIVER: web.AppKey[WebhookReceiver] = web.AppKey("receiver", WebhookReceiver)


async def log_event(event: WebhookEvent) -> None:
    """The handler: react to each event (here, print one line)."""
    if isinstance(event, PhotoSubmissionCreated):
        print(f"photo {event.submission.id} uploaded to {event.photo_request_id}")
    elif isinstance(event, PhotoRequestEvent):
        print(f"{event.type}: {event.photo_request.id} is {event.photo_request.status}")
    else:
        print(f"{event.type} (delivery {event.delivery_id})")


def as_json(stored: StoredEvent) -> dict[str, str | int]:
    return {
        "event": stored.event.type,
        "delivery_id": stored.event.delivery_id or "",
        "timestamp": stored.event.timestamp.isoformat() if stored.event.timestamp else None,
        "received_at": stored.received_at.isoformat(),
        "status": str(stored.status),
        "attempts": stored.attempts,
    }


async def list_events(request: web.Request) -> web.Response:
    store = request.app[RECEIVER].store
    stored = await store.list_events(request.match_info["photo_request_id"])
    return web.json_response([as_json(s) for s in stored])


async def wait_for_event(request: web.Request) -> web.Response:
    store = request.app[RECEIVER].store
    wanted = request.query.getall("event", [])
    try:
        stored = await store.wait_for(
            request.match_info["photo_request_id"],
            events=wanted or None,
            timeout=float(request.query.get("timeout", "30")),
        )
    except TimeoutError:
        return web.json_response({"status": "waiting"}, status=202)
    return web.json_response(as_json(stored))


def create_app(
    secret: str | Callable[[], str],
    *,
    store: EventStore | None = None,
) -> web.Application:
    """Build the application.

    Args:
        secret: The webhook endpoint's secret, or a function returning it.
        store: Where events are kept; ``visiono-events.sqlite3`` by default.
    """
    receiver = WebhookReceiver(
        secret,
        log_event,
        store=store if store is not None else SQLiteEventStore("visiono-events.sqlite3"),
    )
    app = web.Application()
    app[RECEIVER] = receiver
    app.router.add_post(WEBHOOK_PATH, webhook_handler(receiver))
    app.router.add_get("/photo-requests/{photo_request_id}/events", list_events)
    app.router.add_get("/photo-requests/{photo_request_id}/wait", wait_for_event)
    app.cleanup_ctx.append(receiver_context(receiver))
    return app


async def demo(workdir: Path) -> None:
    """Run the receiver against the emulator and follow one photo request."""
    from visiono_async.testing import VisionoEmulator

    secret = {"value": ""}
    app = create_app(lambda: secret["value"], store=SQLiteEventStore(workdir / "events.db"))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        async with (
            VisionoEmulator(webhook_time_factor=0.01) as emulator,
            VisionoClient(api_key=emulator.create_api_key(), base_url=emulator.base_url) as client,
            aiohttp.ClientSession() as http,
        ):
            endpoint = await client.webhooks.create(
                url=url + WEBHOOK_PATH,
                events=[
                    "photo_request.created",
                    "photo_submission.created",
                    "photo_request.submitted",
                ],
            )
            secret["value"] = endpoint.secret or ""
            pr = await client.photo_requests.create(
                instructions="Photos of the parcel", items=[{"instructions": "The label"}]
            )
            await emulator.simulate_submission(pr.id)
            wait = f"{url}/photo-requests/{pr.id}/wait?event=photo_request.submitted"
            async with http.get(wait) as response:
                submitted = await response.json()
            print(f"waited for {submitted['event']} (delivery {submitted['delivery_id']})")
            await emulator.wait_for_deliveries(3, timeout=30)
            async with http.get(f"{url}/photo-requests/{pr.id}/events") as response:
                events = await response.json()
            print("stored: " + ", ".join(e["event"] for e in events))
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="walk through on the emulator")
    parser.add_argument("--port", default=8080, type=int)
    args = parser.parse_args()
    if args.demo:
        with tempfile.TemporaryDirectory() as workdir:
            asyncio.run(demo(Path(workdir)))
        return
    secret = os.environ.get("VISIONO_WEBHOOK_SECRET")
    if not secret:
        parser.error("set VISIONO_WEBHOOK_SECRET to your webhook endpoint's secret")
    web.run_app(create_app(secret), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
