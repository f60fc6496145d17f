"""Photo storage behind signed, expiring URLs.

:class:`PhotoStorage` is the pluggable interface; :class:`MemoryStorage` is the built-in
implementation, served by the emulator's own app at ``/storage/{key}`` with S3-like
behaviour: HMAC-signed expiring URLs, ``ETag``, single byte ranges and XML errors.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from email.utils import formatdate
from typing import Protocol
from urllib.parse import quote

import attrs
from aiohttp import web

from ._clock import EmulatorClock
from ._context import current
from ._jpeg import iter_sample_jpeg

__all__ = ["MEMORY_STORAGE", "MemoryStorage", "PhotoStorage", "serve_storage", "stream_body"]

_CHUNK = 64 * 1024


class PhotoStorage(Protocol):
    """Where the emulator keeps photo bytes and how it signs their download URLs.

    The emulator calls :meth:`start` before its server starts and :meth:`aclose` after it
    stopped; :meth:`signed_url` is only called in between.
    """

    async def start(self) -> None:
        """Get ready to store and serve (e.g. launch a server)."""
        ...

    async def aclose(self) -> None:
        """Release everything :meth:`start` acquired."""
        ...

    async def put(self, key: str, content: bytes, mime_type: str) -> None:
        """Store ``content`` under ``key`` (e.g. ``ps_x/original.jpg``)."""
        ...

    def signed_url(self, key: str, expires_at: float) -> str:
        """An absolute URL serving ``key`` until ``expires_at`` (unix seconds)."""
        ...


@attrs.frozen
class SampleContent:
    """A generated photo kept as its recipe: ``sample_jpeg(size, seed=seed)``."""

    size: int
    seed: int

    def __len__(self) -> int:
        return self.size


@attrs.frozen
class StoredObject:
    """Bytes (or the recipe of a generated photo) and the headers they are served with."""

    content: bytes | SampleContent
    mime_type: str
    etag: str
    last_modified: str


class MemoryStorage:
    """The built-in storage: objects in memory, served by the emulator itself.

    URLs look like ``{root}/storage/{key}?expires={unix}&signature={hex}`` where the
    signature is HMAC-SHA256 of ``"{key}|{expires}"`` with a random per-instance secret.
    """

    def __init__(self, clock: EmulatorClock, root_url: Callable[[], str]) -> None:
        self._clock = clock
        self._root_url = root_url
        self._secret = secrets.token_bytes(32)
        self._objects: dict[str, StoredObject] = {}

    async def start(self) -> None:
        """Nothing to start: the emulator's app serves the objects."""

    async def aclose(self) -> None:
        """Forget every object."""
        self._objects.clear()

    async def put(self, key: str, content: bytes, mime_type: str) -> None:
        """Keep ``content`` under ``key``."""
        etag = '"' + hashlib.md5(content, usedforsecurity=False).hexdigest() + '"'
        modified = formatdate(self._clock.now(), usegmt=True)
        self._objects[key] = StoredObject(content, mime_type, etag, modified)

    async def put_sample(self, key: str, size: int, seed: int, mime_type: str) -> None:
        """Keep ``sample_jpeg(size, seed=seed)`` under ``key`` as its recipe, not its bytes.

        The bytes are made as they are served, so memory stays flat however many large
        sample photos a run uploads (``visiono demo`` with hundreds).
        """
        if size < 22:
            raise ValueError(f"sample_jpeg needs size >= 22, got {size}")
        etag = f'"sample-{size}-{seed}"'  # the same recipe always gives the same bytes
        modified = formatdate(self._clock.now(), usegmt=True)
        self._objects[key] = StoredObject(SampleContent(size, seed), mime_type, etag, modified)

    def signed_url(self, key: str, expires_at: float) -> str:
        """A URL for ``key`` that stops working after ``expires_at`` on the emulator clock.

        ``expires`` is rounded up to whole seconds, so a URL never dies before the
        ``expires_in_seconds`` the API promised.
        """
        expires = math.ceil(expires_at)
        return (
            f"{self._root_url()}/storage/{quote(key)}"
            f"?expires={expires}&signature={self._sign(key, str(expires))}"
        )

    def _sign(self, key: str, expires: str) -> str:
        return hmac.new(self._secret, f"{key}|{expires}".encode(), hashlib.sha256).hexdigest()

    def get(self, key: str) -> StoredObject | None:
        """The object under ``key``, if any."""
        return self._objects.get(key)

    def check(self, key: str, expires: str | None, signature: str | None) -> str | None:
        """``None`` when the signature is valid and unexpired, else the S3 error code."""
        if not expires or not signature:
            return "SignatureDoesNotMatch"
        if not hmac.compare_digest(self._sign(key, expires), signature):
            return "SignatureDoesNotMatch"
        try:
            deadline = int(expires)
        except ValueError:
            return "SignatureDoesNotMatch"
        if self._clock.now() > deadline:
            return "AccessDenied"
        return None


MEMORY_STORAGE = web.AppKey("visiono_memory_storage", MemoryStorage)

_MESSAGES = {
    "AccessDenied": "Request has expired",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the "
    "signature you provided.",
    "NoSuchKey": "The specified key does not exist.",
    "InvalidRange": "The requested range is not satisfiable",
}


def _xml_error(
    status: int, code: str, key: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{_MESSAGES[code]}</Message>"
        f"<Key>{quote(key)}</Key></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml", headers=headers)


class _Unsatisfiable(Exception):
    pass


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for one ``bytes=`` range; ``None`` to serve everything."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:
            suffix = int(last_text)
            if suffix <= 0:
                raise _Unsatisfiable
            return max(size - suffix, 0), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise _Unsatisfiable
    if last < first:
        return None
    return first, min(last, size - 1)


async def serve_storage(request: web.Request) -> web.StreamResponse:
    """GET/HEAD ``/storage/{key}``: signed, expiring, range-aware."""
    storage = request.app[MEMORY_STORAGE]
    key = request.match_info["key"]
    problem = storage.check(key, request.query.get("expires"), request.query.get("signature"))
    if problem is not None:
        return _xml_error(403, problem, key)
    stored = storage.get(key)
    if stored is None:
        return _xml_error(404, "NoSuchKey", key)
    size = len(stored.content)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": stored.etag,
        "Last-Modified": stored.last_modified,
        "Content-Type": stored.mime_type,
    }
    first, last = 0, size - 1
    status = 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and (if_range is None or if_range == stored.etag):
        try:
            parsed = _parse_range(range_header, size)
        except _Unsatisfiable:
            return _xml_error(416, "InvalidRange", key, {"Content-Range": f"bytes */{size}"})
        if parsed is not None:
            first, last = parsed
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = last - first + 1
    content = stored.content
    if isinstance(content, SampleContent):
        return await _stream_sample(request, response, content, first, last + 1)
    body = memoryview(content)[first : last + 1]
    return await stream_body(request, response, body)


async def _stream_sample(
    request: web.Request, response: web.StreamResponse, sample: SampleContent, start: int, end: int
) -> web.StreamResponse:
    """Send bytes ``start:end`` of a generated photo, making them piece by piece."""
    ctx = current()
    ctx.set_status(response.status)
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    cut = ctx.cut_after
    stop = end if cut is None else min(end, start + cut)
    offset = 0
    for piece in iter_sample_jpeg(sample.size, seed=sample.seed):
        lo, hi = max(start, offset), min(stop, offset + len(piece))
        if lo < hi:
            await response.write(piece[lo - offset : hi - offset])
        offset += len(piece)
        if offset >= stop:
            break
    if stop < end:
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def stream_body(
    request: web.Request, response: web.StreamResponse, body: memoryview | bytes
) -> web.StreamResponse:
    """Send ``response`` and ``body`` in chunks, honouring a ``cut_body`` fault."""
    ctx = current()
    ctx.set_status(response.status)
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    view = memoryview(body)
    cut = ctx.cut_after
    end = len(view) if cut is None else min(cut, len(view))
    for offset in range(0, end, _CHUNK):
        await response.write(view[offset : min(offset + _CHUNK, end)])
    if cut is not None and cut < len(view):
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
