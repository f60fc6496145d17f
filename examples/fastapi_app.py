"""A FastAPI service that collects photos with Visiono and archives them as they complete.

What it shows:

- one ``VisionoClient`` for the whole app (``visiono_lifespan``, and ``VisionoClientDep``,
  that is ``Depends(visiono_client)``, in the routes);
- registering the app's webhook endpoint at start-up and keeping its secret (shown once);
- ``POST /photo-requests`` creates a request and answers with its QR code URL (Visiono's
  own image: no QR library needed); ``GET /photo-requests/{id}`` shows it in a page, and
  ``GET /api/photo-requests/{id}`` answers the SDK model itself (a route typed
  ``-> PhotoRequest``);
- the webhook receiver verifies and de-duplicates deliveries, and when
  ``photo_request.submitted`` arrives, archives the photos with ``client.archive(...)``;
- ``GET /photo-requests/{id}/archive`` waits for that archive without polling.

Against the real API (the app must be reachable by Visiono at ``$PUBLIC_URL``)::

    VISIONO_API_KEY=... PUBLIC_URL=https://photos.example.com \\
        uvicorn --factory examples.fastapi_app:create_app

With no key, against the emulator, as a scripted walk-through::

    python examples/fastapi_app.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from visiono_async import VisionoClient
from visiono_async.download import ArchiveReport
from visiono_async.integrations.fastapi import (
    STATE_KEY,
    VisionoClientDep,
    visiono_lifespan,
    webhook_router,
)
from visiono_async.models import PhotoRequest
from visiono_async.webhooks import (
    EventStore,
    MemoryEventStore,
    PhotoRequestSubmitted,
    WebhookEvent,
    WebhookReceiver,
)

WEBHOOK_PATH = "/webhooks/visiono"
EVENTS = ["photo_submission.created", "photo_request.submitted", "photo_request.expired"]


class Item(BaseModel):
    instructions: str
    is_required: bool = True


class NewPhotoRequest(BaseModel):
    instructions: str = "Please take the photos below"
    items: list[Item] = Field(default_factory=lambda: [Item(instructions="A photo")])
    expires_in_hours: int = 48


class Archiver:
    """Archives a photo request when it is submitted; lets routes wait for the result."""

    def __init__(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir
        self.client: VisionoClient | None = None  # set at start-up
        self.reports: dict[str, ArchiveReport] = {}
        self._done: dict[str, anyio.Event] = {}

    def done(self, photo_request_id: str) -> anyio.Event:
        return self._done.setdefault(photo_request_id, anyio.Event())

    async def on_event(self, event: WebhookEvent) -> None:
        """The webhook handler: runs after Visiono has been answered 202."""
        if not isinstance(event, PhotoRequestSubmitted) or self.client is None:
            return
        pr_id = event.photo_request.id
        # If this raises, the event stays pending in the store and is handled again on
        # Visiono's retry or the next redelivery pass; re-runs skip files already archived.
        report = await self.client.archive(self.archive_dir, photo_requests=[pr_id])
        self.reports[pr_id] = report
        self.done(pr_id).set()


def create_app(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    public_url: str | None = None,
    archive_dir: str | os.PathLike[str] = "photos",
    store: EventStore | None = None,
) -> FastAPI:
    """Build the app.

    Args:
        api_key: The Visiono API key; ``$VISIONO_API_KEY`` when None.
        base_url: The API root; ``$VISIONO_BASE_URL`` or the default when None.
        public_url: Where Visiono can reach this app; ``$PUBLIC_URL`` when None.
        archive_dir: Where photos are archived, one folder per photo request.
        store: The event store; in memory by default (use ``SQLiteEventStore`` or
            ``RedisEventStore`` to survive restarts or to share between replicas).
    """
    public = (public_url or os.environ.get("PUBLIC_URL", "")).rstrip("/")
    if not public:
        raise ValueError("set PUBLIC_URL to the address where Visiono can reach this app")
    archiver = Archiver(Path(archive_dir))
    endpoint_secret = {"value": ""}
    receiver = WebhookReceiver(
        lambda: endpoint_secret["value"],
        archiver.on_event,
        store=store if store is not None else MemoryEventStore(),
    )
    shared = visiono_lifespan(receiver=receiver, api_key=api_key, base_url=base_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with shared(app) as state:
            client: VisionoClient = state[STATE_KEY]
            archiver.client = client
            endpoint = await client.webhooks.create(
                url=public + WEBHOOK_PATH, events=EVENTS, description="fastapi_app example"
            )
            endpoint_secret["value"] = endpoint.secret or ""
            try:
                yield state
            finally:
                with anyio.CancelScope(shield=True):
                    await client.webhooks.delete(endpoint.id)

    app = FastAPI(title="Visiono photo collection", lifespan=lifespan)
    app.include_router(webhook_router(receiver, path=WEBHOOK_PATH))

    @app.post("/photo-requests", status_code=201)
    async def create_photo_request(
        body: NewPhotoRequest, client: VisionoClientDep
    ) -> dict[str, Any]:
        pr = await client.photo_requests.create(
            instructions=body.instructions,
            items=[item.model_dump() for item in body.items],
            expires_in_hours=body.expires_in_hours,
        )
        return {
            "id": pr.id,
            "status": str(pr.status),
            "request_url": pr.request_url,
            "qrcode_url": await client.photo_requests.qrcode(pr.id),
        }

    @app.get("/photo-requests/{photo_request_id}", response_class=HTMLResponse)
    async def show_photo_request(photo_request_id: str, client: VisionoClientDep) -> str:
        pr = await client.photo_requests.get(photo_request_id)
        qr = await client.photo_requests.qrcode(pr.id)
        return (
            f"<h1>{html.escape(pr.instructions or pr.id)}</h1>"
            f'<p><img src="{html.escape(qr)}" alt="Scan to upload photos" width="200"></p>'
            f'<p><a href="{html.escape(pr.request_url or "")}">Open the upload page</a></p>'
            f"<p>Status: {html.escape(str(pr.status))}</p>"
        )

    @app.get("/api/photo-requests/{photo_request_id}")
    async def photo_request_json(photo_request_id: str, client: VisionoClientDep) -> PhotoRequest:
        return await client.photo_requests.get(photo_request_id)

    @app.get("/photo-requests/{photo_request_id}/archive")
    async def wait_for_archive(photo_request_id: str, timeout: float = 30.0) -> JSONResponse:
        with anyio.move_on_after(timeout):
            await archiver.done(photo_request_id).wait()
        report = archiver.reports.get(photo_request_id)
        if report is None:
            return JSONResponse({"status": "waiting"}, status_code=202)
        return JSONResponse(
            {
                "status": "archived",
                "downloaded": report.downloaded,
                "skipped": report.skipped,
                "failed": len(report.failed),
                "bytes": report.bytes,
                "folder": str(Path(report.dest or archiver.archive_dir) / photo_request_id),
            }
        )

    return app


async def demo(archive_dir: Path) -> None:
    """Run the app against the emulator and walk through one photo request."""
    import uvicorn

    from visiono_async.testing import VisionoEmulator

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with VisionoEmulator(webhook_time_factor=0.01) as emulator:
        app = create_app(
            api_key=emulator.create_api_key(),
            base_url=emulator.base_url,
            public_url=url,
            archive_dir=archive_dir,
        )
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none"))
        async with anyio.create_task_group() as tg, aiohttp.ClientSession() as http:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
                await anyio.sleep(0.01)
            items = [{"instructions": "Front"}, {"instructions": "Back"}]
            async with http.post(f"{url}/photo-requests", json={"items": items}) as response:
                created = await response.json()
            print(f"created {created['id']}; QR code: {created['qrcode_url']}")
            pr = created["id"]
            await emulator.simulate_view(pr)
            for _ in items:
                await emulator.simulate_submission(pr)
            print("the recipient uploaded 2 photos; waiting for photo_request.submitted")
            async with http.get(f"{url}/photo-requests/{pr}/archive") as response:
                result = await response.json()
            print(f"{result['status']}: {result['downloaded']} photo(s) in {result['folder']}")
            server.should_exit = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="walk through on the emulator")
    parser.add_argument("--archive-dir", default="photos", type=Path)
    parser.add_argument("--port", default=8000, type=int)
    args = parser.parse_args()
    if args.demo:
        asyncio.run(demo(args.archive_dir))
    else:
        import uvicorn

        uvicorn.run(
            "examples.fastapi_app:create_app", factory=True, host="127.0.0.1", port=args.port
        )


if __name__ == "__main__":
    main()
