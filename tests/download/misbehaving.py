"""A raw-socket storage server for tests: every answer is hand-written bytes, chosen per path.

Real storage (and whatever sits in front of it) sends answers no well-behaved test server
would: two answers for one request, bytes past ``Content-Length``, a reset mid-body, a gzip
bomb, raw UTF-8 in ``Location``. ``Misbehaving`` listens on ``127.0.0.1`` (port 0), reads
each request head itself, records it, and lets a per-path behaviour write whatever bytes it
likes, so the transports can be checked against exactly those bytes.

    server = await Misbehaving.start()
    server.route("/a.jpg", answer(ok(PHOTO)))
    url = server.url("/a.jpg")
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable

import attrs


@attrs.frozen
class Request:
    """One request head as the server received it.

    Attributes:
        target: The request target, byte for byte (``/a%2Fb.jpg?sig=...``).
        headers: Header names in lower case, values as sent.
        connection: Which connection carried it (0, 1, ... in accept order).
        index: Its place among the requests of that connection (0 for the first).
    """

    target: bytes
    headers: dict[str, str]
    connection: int
    index: int


Behaviour = Callable[["Exchange"], Awaitable[None]]
"""Writes the answer to one request; may close or reset the connection, or go silent."""


@attrs.define
class Exchange:
    """One request and the connection to answer it on."""

    request: Request
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: Misbehaving
    closed: bool = False

    async def send(self, data: bytes) -> None:
        """Write ``data`` (one ``write``: on loopback, as good as one segment)."""
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        """Close the connection after this answer (a FIN)."""
        self.closed = True
        self.writer.close()

    def reset(self) -> None:
        """Close with a TCP reset (RST) instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    async def silence(self) -> None:
        """Send nothing more; wait until the client gives up and closes."""
        await self.reader.read()
        self.closed = True


def ok(body: bytes, *, status: str = "200 OK", headers: str = "") -> bytes:
    """A complete HTTP/1.1 answer with ``Content-Length``."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, *, size: int = 4096, trailers: str = "") -> bytes:
    """A chunked HTTP/1.1 answer, with optional trailer lines after the last chunk."""
    out = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"]
    if trailers:
        out.append(b"Trailer: " + trailers.split(":", 1)[0].encode() + b"\r\n")
    out.append(b"\r\n")
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n" + trailers.encode("latin-1") + b"\r\n")
    return b"".join(out)


def answer(*raw: bytes) -> Behaviour:
    """Answer with these bytes, in one write."""

    async def behaviour(ex: Exchange) -> None:
        await ex.send(b"".join(raw))

    return behaviour


def answer_then_close(*raw: bytes) -> Behaviour:
    """Answer with these bytes, then close the connection."""

    async def behaviour(ex: Exchange) -> None:
        await ex.send(b"".join(raw))
        ex.close()

    return behaviour


def answer_then_reset(*raw: bytes) -> Behaviour:
    """Answer with these bytes, then reset the connection."""

    async def behaviour(ex: Exchange) -> None:
        await ex.send(b"".join(raw))
        ex.reset()

    return behaviour


def silent() -> Behaviour:
    """Never answer."""

    async def behaviour(ex: Exchange) -> None:
        await ex.silence()

    return behaviour


def drip(body: bytes, *, step: int = 1, pause: float = 0.02) -> Behaviour:
    """A head, then ``step`` bytes every ``pause`` seconds (never silent for long)."""

    async def behaviour(ex: Exchange) -> None:
        await ex.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), step):
            await ex.send(body[start : start + step])
            await asyncio.sleep(pause)

    return behaviour


def ranged(body: bytes) -> Behaviour:
    """The body, or with ``Range: bytes=N-`` its rest as a 206."""

    async def behaviour(ex: Exchange) -> None:
        spec = ex.request.headers.get("range", "")
        if not spec.startswith("bytes="):
            await ex.send(ok(body))
            return
        start = int(spec[6:].split("-", 1)[0])
        span = f"Content-Range: bytes {start}-{len(body) - 1}/{len(body)}\r\n"
        await ex.send(ok(body[start:], status="206 Partial Content", headers=span))

    return behaviour


def by_attempt(*behaviours: Behaviour) -> Behaviour:
    """The first behaviour for the first request to the path, the next for the next, ...

    The last one repeats.
    """
    seen = [0]

    async def behaviour(ex: Exchange) -> None:
        index = min(seen[0], len(behaviours) - 1)
        seen[0] += 1
        await behaviours[index](ex)

    return behaviour


class Misbehaving:
    """The server; see the module docstring.

    Attributes:
        requests: Every request received, in order.
        connections: Connections accepted so far.
        port: The port it listens on.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.connections = 0
        self.port = 0
        self.scheme = "http"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def start(cls, *, ssl_context: ssl.SSLContext | None = None) -> Misbehaving:
        """Listen on 127.0.0.1, a free port; with ``ssl_context``, over TLS."""
        self = cls()
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        self.scheme = "https" if ssl_context is not None else "http"
        return self

    def url(self, target: str) -> str:
        """The URL of ``target`` (a path with its query) on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{target}"

    def route(self, path: str, behaviour: Behaviour) -> None:
        """Answer requests for ``path`` (the target without its query) with ``behaviour``."""
        self.routes[path] = behaviour

    def targets(self) -> list[bytes]:
        """The request targets received, in order."""
        return [r.target for r in self.requests]

    async def aclose(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()  # a handler waiting on its reader sees the end and returns
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.add(writer)
        connection = self.connections
        self.connections += 1
        try:
            for index in range(1_000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request = _parse(head, connection, index)
                self.requests.append(request)
                path = request.target.split(b"?", 1)[0].decode("latin-1")
                behaviour = self.routes.get(path, answer(ok(b"no such path", status="404 Nope")))
                exchange = Exchange(request, reader, writer, self)
                await behaviour(exchange)
                if exchange.closed:
                    return
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.close()


def _parse(head: bytes, connection: int, index: int) -> Request:
    lines = head.split(b"\r\n")
    target = lines[0].split(b" ")[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()
    return Request(target, headers, connection, index)
