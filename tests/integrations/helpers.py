"""Real servers on loopback for the receiver tests, and a handler that records its calls."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import uvicorn
from aiohttp import web

from visiono_async.webhooks import Delivery, WebhookEvent


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to 127.0.0.1 and a free port, and its base URL (for apps that must
    know their own address before they start)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn server on loopback (``sock`` or a fresh one);
    yields its base URL."""
    if sock is None:
        sock, url = loopback_socket()
    else:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="none"))
    stopped = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve([sock])
        finally:
            stopped.set()

    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with anyio.fail_after(10):
                while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
                    await anyio.sleep(0.01)
            try:
                yield url
            finally:
                # A graceful stop, even when the test failed: the app's lifespan shutdown
                # runs while the servers it talks to are still up.
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await stopped.wait()


@contextlib.asynccontextmanager
async def serve_aiohttp(app: web.Application) -> AsyncIterator[str]:
    """Run an aiohttp application on 127.0.0.1 and a free port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def post(
    http: aiohttp.ClientSession, url: str, delivery: Delivery, **headers: str
) -> tuple[int, dict[str, Any]]:
    """POST a delivery; the status and the JSON answer."""
    async with http.post(url, data=delivery.body, headers={**delivery.headers, **headers}) as r:
        return r.status, await r.json()


class Recorder:
    """A webhook handler that records every event; it can fail its first ``failures`` runs."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[WebhookEvent] = []
        self.failures = failures
        self.calls = 0
        self._changed: anyio.Event | None = None

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls += 1
        try:
            if self.calls <= self.failures:
                raise RuntimeError(f"handler failure {self.calls}")
            self.events.append(event)
        finally:
            if self._changed is not None:
                self._changed.set()

    async def wait_until(self, done: Callable[[], bool], timeout: float = 10) -> None:
        """Wait (without polling) until ``done()`` holds after some handler run."""
        with anyio.fail_after(timeout):
            while not done():
                self._changed = anyio.Event()
                await self._changed.wait()
