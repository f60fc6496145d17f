"""Proxies for the proxy tests: a real tinyproxy, and a small recording proxy of our own.

tinyproxy proves the SDK speaks to a proxy as curl does (absolute-form requests for http,
``CONNECT`` tunnels for https); its log says what went through it. The recording proxy
covers what tinyproxy cannot be asked for: credentials it demands (407) and a record of
every header it saw, and an origin that records the headers that reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import anyio
import attrs
from aiohttp import web

from tests.conftest import require_binary

_REQUEST_LINE = re.compile(r"Request \(file descriptor \d+\): (\S+) (\S+) HTTP/")


def free_port() -> int:
    """A port nothing listens on right now (for servers that cannot bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@attrs.define
class TinyProxy:
    """A running tinyproxy on 127.0.0.1.

    Attributes:
        port: Where it listens.
        log_path: Its log (``LogLevel Connect``: one line per request it was asked for).
    """

    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[tuple[str, str]]:
        """``(method, target)`` of every request it received, in order."""
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return [(m.group(1), m.group(2)) for m in _REQUEST_LINE.finditer(text)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def tinyproxy(folder: Path, *, connect_ports: Sequence[int] | None = None) -> Iterator[TinyProxy]:
    """Run tinyproxy with a config in ``folder``; ``connect_ports`` are open to CONNECT
    (None: every port).

    tinyproxy cannot bind port 0: a free port is picked, and another one tried when
    someone else took it first.
    """
    binary = require_binary("tinyproxy")
    folder.mkdir(parents=True, exist_ok=True)
    for _attempt in range(20):
        port = free_port()
        log_path = folder / "tinyproxy.log"
        log_path.unlink(missing_ok=True)
        config = folder / "tinyproxy.conf"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 30",
            "MaxClients 100",
            f'LogFile "{log_path}"',
            "LogLevel Connect",
            # Without a ConnectPort line tinyproxy tunnels to any port.
            *(f"ConnectPort {p}" for p in (connect_ports or ())),
        ]
        config.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            [binary, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proxy = TinyProxy(port, log_path, process)
        for _poll in range(500):  # bounded: tinyproxy starts in milliseconds
            if process.poll() is not None or _accepts(port):
                break
            time.sleep(0.02)
        if process.poll() is None and _accepts(port):
            try:
                yield proxy
            finally:
                proxy.stop()
            return
        proxy.stop()  # the port was taken meanwhile ("address in use"): another one
    raise RuntimeError("tinyproxy did not start on any of 20 free ports")


@attrs.define
class Seen:
    """One request as the recording proxy received it."""

    method: str
    target: str
    headers: dict[str, str]


class RecordingProxy:
    """An HTTP proxy of our own: records requests, may demand credentials or refuse.

    Args:
        credentials: ``"user:password"`` it requires (407 otherwise), or None.
        refuse: A status it answers to every request instead of carrying it, or None.
    """

    def __init__(self, *, credentials: str | None = None, refuse: int | None = None) -> None:
        import base64

        self.expected = (
            "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else None
        )
        self.refuse = refuse
        self.seen: list[Seen] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            self.seen.append(Seen(method, target, headers))
            status = self.refuse
            wrong = (
                self.expected is not None and headers.get("proxy-authorization") != self.expected
            )
            if status is None and wrong:
                status = 407
            if status is not None:
                writer.write(
                    f"HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\n"
                    'Proxy-Authenticate: Basic realm="test"\r\n\r\n'.encode()
                )
                await writer.drain()
                continue
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await _pipe_both(reader, writer, up_reader, up_writer)
                return
            await self._forward(method, target, headers, reader, writer)
            return

    async def _forward(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """An absolute-form request: to the origin in origin form, one per connection."""
        match = re.match(r"http://([^/]+)(/.*)?$", target)
        assert match, target
        hostport, path = match.group(1), match.group(2) or "/"
        host, _, port = hostport.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
        forwarded = {
            k: v for k, v in headers.items() if k not in ("proxy-authorization", "connection")
        }
        forwarded["connection"] = "close"
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in forwarded.items()
        )
        up_writer.write(head.encode("latin-1") + b"\r\n" + body)
        await up_writer.drain()
        answer = await up_reader.read()  # the origin closes (Connection: close)
        up_writer.close()
        # Our client may keep the connection for another request: say it ends here.
        end = answer.find(b"\r\n")
        answer = answer[: end + 2] + b"Connection: close\r\n" + answer[end + 2 :]
        writer.write(answer)
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pipe, reader, up_writer)
            tg.start_soon(_pipe, up_reader, writer)
    finally:
        up_writer.close()


@attrs.define
class HeaderOrigin:
    """A small origin that answers every GET with ``body`` and keeps the request headers."""

    port: int
    scheme: str
    received: list[dict[str, str]]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def header_origin(
    body: bytes, *, content_type: str = "image/jpeg", ssl: object = None
) -> AsyncIterator[HeaderOrigin]:
    """Run a :class:`HeaderOrigin` (HTTPS with an ``ssl.SSLContext``)."""
    received: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl)  # type: ignore[arg-type]
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield HeaderOrigin(port, "https" if ssl is not None else "http", received)
    finally:
        await runner.cleanup()
