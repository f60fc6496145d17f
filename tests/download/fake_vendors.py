"""Two small fakes of other vendors' APIs, real HTTP servers on loopback, for the examples.

* ``PhotoAPI``: a token-authorised photo + thumbnail API, page-number listing, that
  answers JSON errors (``{"success": false, "errors": {"4515": "Image not available"}}``)
  instead of images, once with a 404 and once with a 200.
* ``CameraAPI``: an on-demand camera API: ``POST /devices/{id}/capture`` takes a picture
  whose image answers 404 until it is ready, behind a link valid 30 minutes; every capture
  is counted (each one is a real picture on the vendor's side).
"""

from __future__ import annotations

import hashlib
import itertools
import time
import zlib
from types import TracebackType
from typing import Any

from aiohttp import web

from visiono_async.testing import sample_jpeg


def sample_png(size: int, *, seed: int) -> bytes:
    """A PNG-signed body of about ``size`` bytes (its type is what the bytes say)."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    chunk = b"IDAT" + zlib.compress(body[:size], 0)
    return b"\x89PNG\r\n\x1a\n" + len(chunk).to_bytes(4, "big") + chunk


class _Server:
    def __init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> Any:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


NOT_AVAILABLE = {"success": False, "errors": {"4515": "Image not available"}}


class PhotoAPI(_Server):
    """Photos behind ``Authorization: Bearer TOKEN``; ``missing`` 404s, ``broken`` 200s JSON."""

    def __init__(self, token: str, count: int = 5, *, missing: str = "p2", broken: str = "p4"):
        super().__init__()
        self.token = token
        self.photos = {f"p{i}": sample_png(20_000 + 500 * i, seed=i) for i in range(count)}
        self.thumbs = {f"p{i}": sample_jpeg(4_000, seed=100 + i) for i in range(count)}
        self.missing = missing
        self.broken = broken
        self.unauthorised = 0
        self.app.router.add_get("/v2/photos", self._list)
        self.app.router.add_get("/v2/files/{id}/{variant}", self._file)

    def _authorised(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        self.unauthorised += not ok
        return ok

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"success": False, "errors": {"401": "bad token"}}, status=401)
        ids = sorted(self.photos)
        page = int(request.query.get("page", "1"))
        per_page = 2
        chunk = ids[(page - 1) * per_page : page * per_page]
        data = [
            {
                "id": pid,
                "image_url": f"{self.base_url}/v2/files/{pid}/original",
                "thumbnail_url": f"{self.base_url}/v2/files/{pid}/thumbnail",
                "bytes": len(self.photos[pid]),
            }
            for pid in chunk
        ]
        last = -(-len(ids) // per_page)
        return web.json_response({"data": data, "meta": {"current_page": page, "last_page": last}})

    async def _file(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"success": False, "errors": {"401": "bad token"}}, status=401)
        pid, variant = request.match_info["id"], request.match_info["variant"]
        if pid == self.missing:
            return web.json_response(NOT_AVAILABLE, status=404)
        if pid == self.broken and variant == "original":
            return web.json_response(NOT_AVAILABLE, status=200)
        body = self.photos[pid] if variant == "original" else self.thumbs[pid]
        return web.Response(body=body, content_type="application/octet-stream")


class CameraAPI(_Server):
    """Captures on demand; an image answers 404 for ``delay`` seconds, links last 30 min."""

    def __init__(self, delay: float = 0.5) -> None:
        super().__init__()
        self.delay = delay
        self.captures: dict[str, int] = {}
        self.not_ready = 0
        self._ids = itertools.count(1)
        self._images: dict[str, tuple[float, bytes, float]] = {}
        self.app.router.add_post("/api/devices/{device}/capture", self._capture)
        self.app.router.add_get("/api/images/{capture}", self._image)

    async def _capture(self, request: web.Request) -> web.Response:
        device = request.match_info["device"]
        self.captures[device] = self.captures.get(device, 0) + 1
        capture = f"c{next(self._ids)}"
        now = time.time()
        self._images[capture] = (
            now + self.delay,
            sample_png(30_000, seed=hash(capture)),
            now + 1800,
        )
        return web.json_response(
            {
                "image_url": f"{self.base_url}/api/images/{capture}",
                "available_in": self.delay,
                "expires_in": 1800,
            }
        )

    async def _image(self, request: web.Request) -> web.Response:
        ready, body, expires = self._images[request.match_info["capture"]]
        now = time.time()
        if now > expires:
            return web.json_response({"error": {"message": "link expired"}}, status=403)
        if now < ready:
            self.not_ready += 1
            return web.json_response({"error": {"message": "image not ready"}}, status=404)
        return web.Response(body=body, content_type="application/octet-stream")
