"""The lean storage HTTP client over real loopback sockets: framing, pooling, errors, TLS.

Cases every transport must pass (aiohttp's too) live in ``test_transport_contract.py``;
these are the lean client's own (its pool, its buffer, its parser limits).
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import ssl
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
import trustme
from aiohttp import web
from archive_helpers import BOTH_LOOPS, serving, trusting

from visiono_async.download._http import (
    StorageBodyCut,
    StorageConnectionError,
    StorageHTTP,
    StorageResponse,
    TooManyRedirects,
    UnsupportedEncoding,
)
from visiono_async.download._transport import read_at_least

BODY = random.Random(1).randbytes(100_000)
BIG = random.Random(2).randbytes(8 << 20)
TEXT = b"a compressible line of text\n" * 2000
SOCKET_READ = 256 * 1024  # what an asyncio transport reads from a socket at most at once

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def body_of(resp: StorageResponse) -> bytes:
    out: list[bytes] = []
    while chunks := await resp.read():
        out.extend(chunks)
    return b"".join(out)


async def _serve_app(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture(params=BOTH_LOOPS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """Both loops the client runs on: asyncio's own, and uvloop (the CLI's)."""
    return request.param  # type: ignore[no-any-return]


def _app() -> web.Application:
    async def file(request: web.Request) -> web.Response:
        return web.Response(body=BODY, headers={"X-Storage-Class": "cold"})

    async def close(request: web.Request) -> web.Response:
        response = web.Response(body=b"bye")
        response.force_close()
        return response

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(BODY), 7001):
            await response.write(BODY[start : start + 7001])
        await response.write_eof()
        return response

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no such photo")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("../b/target?x=1")

    async def target(request: web.Request) -> web.Response:
        echo = f"{request.path_qs} {request.headers.get('Range', '-')}"
        return web.Response(text=echo)

    async def hops(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text="arrived")
        raise web.HTTPFound(f"/hops/{n - 1}")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/loop")

    async def encoded(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = {"gzip": gzip.compress, "deflate": zlib.compress}.get(name, lambda b: b)(TEXT)
        return web.Response(body=body, headers={"Content-Encoding": name})

    app = web.Application()
    app.router.add_get("/file", file)
    app.router.add_get("/close", close)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/big", big)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/a/redirect", redirect)
    app.router.add_get("/b/target", target)
    app.router.add_get("/hops/{n}", hops)
    app.router.add_get("/loop", loop)
    app.router.add_get("/encoded/{name}", encoded)
    return app


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    """A well-behaved storage server (aiohttp.web) on loopback."""
    runner, port = await _serve_app(_app())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def serve_raw() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start servers that answer each connection with hand-written bytes."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> bytes:
    """Read one request head, write ``raw``; the head."""
    head = await reader.readuntil(b"\r\n\r\n")
    writer.write(raw)
    await writer.drain()
    return head


class TestAnswers:
    async def test_a_body_with_content_length(self, origin: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/file") as resp:
            assert 200 == resp.status
            assert "cold" == resp.headers.get("X-Storage-Class")
            assert "cold" == resp.headers.get("x-storage-class")
            assert str(len(BODY)) == resp.headers.get("CONTENT-LENGTH")
            assert len(BODY) == resp.content_length
            assert BODY == await body_of(resp)
            assert [] == await resp.read()

    async def test_read_at_least(self, origin: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/file") as resp:
            head = await read_at_least(resp, 10)
            assert len(head) >= 10
            assert BODY == head + await read_at_least(resp, len(BODY))

    async def test_chunked_body(self, origin: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/chunked") as resp:
            assert 200 == resp.status
            assert resp.content_length is None
            assert BODY == await body_of(resp)

    async def test_body_framed_by_connection_close(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n\r\n")
            for start in range(0, len(BODY), 10_000):
                writer.write(BODY[start : start + 10_000])
                await writer.drain()

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            async with http.get(url) as resp:
                assert resp.content_length is None
                assert BODY == await body_of(resp)
            async with http.get(url) as resp:  # that connection is not reused
                assert BODY == await body_of(resp)
            assert 2 == http.connections_made

    async def test_interim_answer_is_skipped(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(
                reader,
                writer,
                b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Real: yes\r\n\r\nhello",
            )
            await reader.read()

        url = await serve_raw(handler)
        async with StorageHTTP() as http, http.get(url) as resp:
            assert 200 == resp.status
            assert "yes" == resp.headers.get("X-Real")
            assert 5 == resp.content_length
            assert b"hello" == await body_of(resp)

    @pytest.mark.parametrize("code", [404, 500])
    async def test_error_statuses_are_returned(self, origin: str, code: int) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/status/{code}") as resp:
            assert code == resp.status
            assert b"no such photo" == await body_of(resp)


class TestKeepAlive:
    async def test_sequential_gets_share_one_connection(self, origin: str) -> None:
        async with StorageHTTP() as http:
            for _ in range(20):
                async with http.get(f"{origin}/file") as resp:
                    assert BODY == await body_of(resp)
            assert 1 == http.connections_made

    async def test_connection_close_answers_are_not_reused(self, origin: str) -> None:
        async with StorageHTTP() as http:
            for _ in range(5):
                async with http.get(f"{origin}/close") as resp:
                    assert "close" == (resp.headers.get("Connection") or "").lower()
                    assert b"bye" == await body_of(resp)
            assert 5 == http.connections_made

    async def test_leaving_before_the_end_closes_the_connection(self, origin: str) -> None:
        async with StorageHTTP(buffer_limit=64 * 1024) as http:
            async with http.get(f"{origin}/big") as resp:
                assert await resp.read()
            async with http.get(f"{origin}/file") as resp:
                assert BODY == await body_of(resp)
            assert 2 == http.connections_made

    async def test_a_connection_closed_while_idle_is_replaced(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        served = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            writer.close()  # its idle timeout, at once
            await writer.wait_closed()
            served.set()

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            async with http.get(url) as resp:
                assert b"ok" == await body_of(resp)
            with anyio.fail_after(5):
                await served.wait()
            async with http.get(url) as resp:
                assert 200 == resp.status
                assert b"ok" == await body_of(resp)
            assert 2 == http.connections_made

    async def test_a_pooled_connection_dropped_on_the_request_is_retried(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """The server closes an idle connection just as the next request arrives on it."""
        requests: list[int] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            index = len(requests)
            requests.append(0)
            while True:
                await reader.readuntil(b"\r\n\r\n")
                requests[index] += 1
                if requests[index] == 2:
                    return  # closed unanswered
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            for _ in range(2):
                async with http.get(url) as resp:
                    assert b"ok" == await body_of(resp)
            assert 2 == http.connections_made
        assert [2, 1] == requests

    async def test_idle_connections_expire(self, origin: str) -> None:
        async with StorageHTTP(idle_timeout=0.05) as http:
            async with http.get(f"{origin}/file") as resp:
                await body_of(resp)
            await asyncio.sleep(0.1)
            async with http.get(f"{origin}/file") as resp:
                assert BODY == await body_of(resp)
            assert 2 == http.connections_made


class TestBrokenAnswers:
    async def test_too_many_header_bytes(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        headers = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 1000) for n in range(100))

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n")

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            with pytest.raises(StorageConnectionError, match="head exceeds"):
                async with http.get(url):
                    pass

    async def test_a_header_that_never_ends(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        """A server streaming one endless header value is cut off, not buffered forever."""
        sent = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal sent
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nX-Endless: ")
            block = b"z" * 65536
            while sent < 64 << 20:
                writer.write(block)
                await writer.drain()
                sent += len(block)

        url = await serve_raw(handler)
        async with StorageHTTP(buffer_limit=256 * 1024) as http:
            with pytest.raises(StorageConnectionError, match="head exceeds"):
                async with http.get(url):
                    pass
        assert sent < 8 << 20  # refused long before the server's 64 MiB

    async def test_body_cut_mid_stream(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(
                reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500
            )

        url = await serve_raw(handler)
        async with StorageHTTP() as http, http.get(url) as resp:
            assert 1000 == resp.content_length
            assert b"x" * 500 == await read_at_least(resp, 500)
            with pytest.raises(StorageBodyCut):
                await resp.read()

    async def test_chunked_body_cut_mid_chunk(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(
                reader,
                writer,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + b"y" * 100,
            )

        url = await serve_raw(handler)
        async with StorageHTTP() as http, http.get(url) as resp:
            with pytest.raises(StorageBodyCut):
                await body_of(resp)

    async def test_reset_before_an_answer(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            with pytest.raises(StorageConnectionError):
                async with http.get(url):
                    pass
            assert 1 == http.connections_made  # a fresh connection is not retried

    async def test_closed_before_an_answer(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            with pytest.raises(StorageConnectionError):
                async with http.get(url):
                    pass

    @pytest.mark.parametrize(
        "garbage",
        [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 abc Nope\r\n\r\n", b"\x00\x01\x02" * 50],
        ids=["ssh", "bad-status", "binary"],
    )
    async def test_garbage_instead_of_http(
        self, serve_raw: Callable[[Handler], Awaitable[str]], garbage: bytes
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, garbage)
            await reader.read()

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            with anyio.fail_after(5), pytest.raises(StorageConnectionError):
                async with http.get(url):
                    pass

    async def test_refused(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: connecting is refused
            async with StorageHTTP() as http:
                with pytest.raises(StorageConnectionError):
                    async with http.get(f"http://127.0.0.1:{port}/x"):
                        pass


class TestTimeouts:
    async def test_headers_then_silence(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            await reader.read()  # until the client gives up

        url = await serve_raw(handler)
        async with StorageHTTP(read_timeout=0.2) as http, http.get(url) as resp:
            assert [b"abc"] == await resp.read()
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(TimeoutError):
                await resp.read()
            assert time.monotonic() - started >= 0.1

    async def test_no_answer_at_all(self, serve_raw: Callable[[Handler], Awaitable[str]]) -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        url = await serve_raw(handler)
        async with StorageHTTP(read_timeout=0.2) as http:
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(TimeoutError):
                async with http.get(url):
                    pass
            assert time.monotonic() - started >= 0.1


async def test_back_pressure_bounds_the_buffer(origin: str) -> None:
    limit = 256 * 1024
    got: list[bytes] = []
    most = 0
    paused = False
    async with StorageHTTP(buffer_limit=limit) as http, http.get(f"{origin}/big") as resp:
        assert len(BIG) == resp.content_length
        while True:
            await asyncio.sleep(0.005)  # a slow disk: storage must wait for it
            most = max(most, resp._conn.buffered)  # type: ignore[attr-defined]
            paused = paused or resp._conn.paused  # type: ignore[attr-defined]
            chunks = await resp.read()
            if not chunks:
                break
            most = max(most, sum(map(len, chunks)))
            got.extend(chunks)
    assert len(BIG) == sum(map(len, got))
    assert BIG == b"".join(got)
    assert paused
    assert most <= limit + SOCKET_READ


class TestRedirects:
    async def test_relative_location_keeps_the_range(self, origin: str) -> None:
        async with (
            StorageHTTP() as http,
            http.get(f"{origin}/a/redirect", {"Range": "bytes=5-"}) as resp,
        ):
            assert 200 == resp.status
            assert b"/b/target?x=1 bytes=5-" == await body_of(resp)

    async def test_ten_redirects_are_followed(self, origin: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/hops/10") as resp:
            assert 200 == resp.status
            assert b"arrived" == await body_of(resp)

    @pytest.mark.parametrize("path", ["/hops/11", "/loop"])
    async def test_too_many_redirects(self, origin: str, path: str) -> None:
        async with StorageHTTP() as http:
            with pytest.raises(TooManyRedirects):
                async with http.get(f"{origin}{path}"):
                    pass

    async def test_max_redirects_is_configurable(self, origin: str) -> None:
        async with StorageHTTP(max_redirects=1) as http:
            with pytest.raises(TooManyRedirects):
                async with http.get(f"{origin}/hops/2"):
                    pass
            async with http.get(f"{origin}/hops/1") as resp:
                assert 200 == resp.status


class TestEncodings:
    @pytest.mark.parametrize("name", ["gzip", "deflate"])
    async def test_compressed_bodies_are_decoded(self, origin: str, name: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/encoded/{name}") as resp:
            assert 200 == resp.status
            assert resp.content_length is None
            assert TEXT == await body_of(resp)

    async def test_content_length_of_a_decoded_body_stays_none(self, origin: str) -> None:
        async with StorageHTTP() as http, http.get(f"{origin}/encoded/gzip") as resp:
            await body_of(resp)
            assert resp.content_length is None

    async def test_a_truncated_gzip_stream_is_an_error(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        half = gzip.compress(BODY)[:50_000]

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 50000\r\n\r\n"
            await _answer(reader, writer, head + half)
            await reader.read()

        url = await serve_raw(handler)
        async with StorageHTTP(read_timeout=5) as http, http.get(url) as resp:
            with pytest.raises(StorageBodyCut):
                await body_of(resp)

    async def test_brotli_is_refused(self, origin: str) -> None:
        async with StorageHTTP() as http:
            with pytest.raises(UnsupportedEncoding):
                async with http.get(f"{origin}/encoded/br"):
                    pass
            async with http.get(f"{origin}/file") as resp:  # the client still works
                assert BODY == await body_of(resp)


class TestRequests:
    async def test_request_head(self, serve_raw: Callable[[Handler], Awaitable[str]]) -> None:
        heads: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            heads.append(await _answer(reader, writer, b"HTTP/1.1 204 No Content\r\n\r\n"))
            await reader.read()

        url = await serve_raw(handler)
        port = url.rsplit(":", 1)[1]
        async with StorageHTTP() as http:
            headers = {
                "Range": "bytes=0-9",
                "Accept-Encoding": "gzip",
                "host": "elsewhere.example",
                "User-Agent": "other",
            }
            async with http.get(f"{url}/p.jpg", headers) as resp:
                assert 204 == resp.status
                assert [] == await resp.read()
        lines = heads[0].decode("latin-1").split("\r\n")
        assert "GET /p.jpg HTTP/1.1" == lines[0]
        assert [f"Host: 127.0.0.1:{port}"] == [
            line for line in lines if line.lower().startswith("host:")
        ]
        assert "Range: bytes=0-9" in lines
        assert ["Accept-Encoding: identity"] == [
            line for line in lines if line.lower().startswith("accept-encoding:")
        ]
        agents = [line for line in lines if line.startswith("User-Agent: ")]
        assert 1 == len(agents)
        assert agents[0].startswith("User-Agent: visiono-async/")

    async def test_target_encoding(self, serve_raw: Callable[[Handler], Awaitable[str]]) -> None:
        heads: list[bytes] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                heads.append(
                    await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                )

        url = await serve_raw(handler)
        async with StorageHTTP() as http:
            for path in [
                "/photos/été 1/a%2Fb.jpg?sig=a%2Bb%3D&x=1/2:3@",
                "/plain/a%2Fb%20c.jpg?X-Amz-Signature=ab%2F&e=1",
                "",
                "?only=query",
            ]:
                async with http.get(f"{url}{path}") as resp:
                    assert 200 == resp.status
        targets = [head.split(b"\r\n", 1)[0] for head in heads]
        assert [
            b"GET /photos/%C3%A9t%C3%A9%201/a%2Fb.jpg?sig=a%2Bb%3D&x=1/2:3@ HTTP/1.1",
            b"GET /plain/a%2Fb%20c.jpg?X-Amz-Signature=ab%2F&e=1 HTTP/1.1",
            b"GET / HTTP/1.1",
            b"GET /?only=query HTTP/1.1",
        ] == targets

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://127.0.0.1/x",
            "http://127.0.0.1/x\r\nX-Evil: 1",
            "http://127.0.0.1/x\x00",
            "http:///x",
        ],
        ids=["ftp", "crlf", "nul", "no-host"],
    )
    async def test_bad_urls(self, url: str) -> None:
        async with StorageHTTP() as http:
            with pytest.raises(ValueError):  # noqa: PT011 - the only contract is ValueError
                async with http.get(url):
                    pass
            assert 0 == http.connections_made

    @pytest.mark.parametrize(
        "headers",
        [{"X-Id": "a\nb"}, {"X-Id": "a\rb"}, {"X-Id\n": "a"}, {"X-Id": "a\x00"}],
        ids=["lf-value", "cr-value", "lf-name", "nul-value"],
    )
    async def test_bad_headers(self, origin: str, headers: dict[str, str]) -> None:
        async with StorageHTTP() as http:
            with pytest.raises(ValueError):  # noqa: PT011
                async with http.get(f"{origin}/file", headers):
                    pass
            async with http.get(f"{origin}/file") as resp:
                assert BODY == await body_of(resp)
            # The header is refused before a connection is taken: the one made is the GET's.
            assert 1 == http.connections_made


class TestTLS:
    @pytest.fixture
    async def https_origin(self, ca: trustme.CA) -> AsyncIterator[str]:
        server_ctx = serving(ca, "127.0.0.1", "localhost")
        runner, port = await _serve_app(_app(), server_ctx)
        try:
            yield f"https://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    async def test_https(self, ca: trustme.CA, https_origin: str) -> None:
        client_ctx = trusting(ca)
        async with StorageHTTP(ssl=client_ctx) as http:
            for path in ["/file", "/chunked", "/file"]:
                async with http.get(f"{https_origin}{path}") as resp:
                    assert 200 == resp.status
                    assert BODY == await body_of(resp)
            async with http.get(f"{https_origin}/big") as resp:
                assert BIG == await body_of(resp)
            assert 1 == http.connections_made

    async def test_https_by_name(self, ca: trustme.CA, https_origin: str) -> None:
        client_ctx = trusting(ca)
        url = https_origin.replace("127.0.0.1", "localhost")
        async with StorageHTTP(ssl=client_ctx) as http, http.get(f"{url}/file") as resp:
            assert BODY == await body_of(resp)

    async def test_an_untrusted_certificate_fails(self, https_origin: str) -> None:
        async with StorageHTTP(ssl=ssl.create_default_context()) as http:
            with pytest.raises(StorageConnectionError):
                async with http.get(f"{https_origin}/file"):
                    pass

    async def test_a_certificate_for_another_host_fails(self, https_origin: str) -> None:
        client_ctx = trusting(trustme.CA())
        async with StorageHTTP(ssl=client_ctx) as http:
            with pytest.raises(StorageConnectionError):
                async with http.get(f"{https_origin}/file"):
                    pass


class TestClose:
    async def test_aclose_closes_pooled_connections(
        self, serve_raw: Callable[[Handler], Awaitable[str]]
    ) -> None:
        ended = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _answer(reader, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            assert b"" == await reader.read()
            ended.set()

        url = await serve_raw(handler)
        http = StorageHTTP()
        async with http.get(url) as resp:
            assert b"ok" == await body_of(resp)
        await asyncio.sleep(0.05)
        assert not ended.is_set()  # pooled, open
        await http.aclose()
        with anyio.fail_after(5):
            await ended.wait()
        with pytest.raises(RuntimeError):
            async with http.get(url):
                pass
