"""A tiny API caller for the emulator's own tests (plain aiohttp, no SDK)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import anyio
import attrs
from aiohttp import web

from visiono_async.testing import VisionoEmulator


@attrs.frozen
class Reply:
    """One API answer: status, headers and the parsed JSON body (``None`` if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    raw: bytes

    @property
    def data(self) -> Any:
        """``body["data"]``."""
        return self.body["data"]


@attrs.define
class Api:
    """Calls the emulator's API with one key over a real loopback connection."""

    http: aiohttp.ClientSession
    emulator: VisionoEmulator
    key: str | None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = "",
        base: str | None = None,
    ) -> Reply:
        """``method`` ``{base_url}{path}``; ``key=""`` uses this caller's key, ``None`` none."""
        sent = dict(headers or {})
        chosen = self.key if key == "" else key
        if chosen is not None:
            sent["X-API-Key"] = chosen
        url = (base or self.emulator.base_url) + path
        async with self.http.request(
            method, url, json=json, data=data, params=params, headers=sent
        ) as resp:
            raw = await resp.read()
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            return Reply(resp.status, resp.headers, body, raw)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        """``GET``."""
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """``POST`` with a JSON body."""
        return await self.call("POST", path, json=json, **kwargs)

    async def create(self, **fields: Any) -> dict[str, Any]:
        """Create a photo request (instructions default to "Upload a photo")."""
        fields.setdefault("instructions", "Upload a photo")
        reply = await self.post("/photo-requests", fields)
        assert reply.status == 201, reply.body
        result: dict[str, Any] = reply.data
        return result

    def with_key(self, key: str | None) -> Api:
        """The same caller with another key."""
        return Api(self.http, self.emulator, key)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it gets.

    Answers the statuses in ``script`` in turn (then ``default``); a status of 0 makes it
    hang for ``hang`` seconds before answering 200.
    """

    def __init__(self, script: list[int] | None = None, *, default: int = 200, hang: float = 5.0):
        self.script = list(script or [])
        self.default = default
        self.hang = hang
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.arrived = anyio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.script.pop(0) if self.script else self.default
        if status == 0:
            await anyio.sleep(self.hang)
            status = 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
