"""Large bodies handed from the event loop to a stream thread (``BodyPipe``), end to end.

Everything runs over real loopback sockets: the emulator, aiohttp.web servers and a
hand-written HTTP/1.1 server whose answers are scripted per request (cut, reset, stall,
trickle). Spies only count calls and call through, to prove which path a body took.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import hashlib
import random
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import anyio
import attrs
import pytest
import trustme
from aiohttp import web
from archive_helpers import BOTH_LOOPS, Disk, files_under, seed, serving, temp_files, trusting

from visiono_async.download import (
    DOWNLOAD_RETRY,
    ArchiveError,
    ArchiveReport,
    FetchSettings,
    ProgressEvent,
    RemoteFile,
    SignedURLSource,
    _pipeline,
    archive,
    read_manifest,
)
from visiono_async.download._aiohttp import _AiohttpResponse
from visiono_async.download._http import (
    BodyPipe,
    LeanTransport,
    StorageBodyCut,
    StorageHTTP,
    StorageResponse,
    TLSBodyPipe,
    _Response,
)
from visiono_async.testing import sample_jpeg

HANDOFF = 256 * 1024
BIG = random.Random(3).randbytes(3 << 20)
BIG2 = random.Random(4).randbytes(700_001)
SMALL = random.Random(5).randbytes(100_000)
PHOTO = sample_jpeg(1 << 20, seed=11)
FAST = {"backoff": 0.01}
FAST_RETRY = attrs.evolve(DOWNLOAD_RETRY, backoff_base=0.01)


@pytest.fixture(params=BOTH_LOOPS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """Both loops the pipe runs on: asyncio's own, and uvloop (the CLI's)."""
    return request.param  # type: ignore[no-any-return]


# -- spies -----------------------------------------------------------------------------------


@attrs.define
class PipeSpy:
    """What the hand-off machinery did, counted by wrappers that call the originals."""

    handoffs: list[BodyPipe | None] = attrs.field(factory=list)
    readable_calls: int = 0
    aborts: int = 0
    on_handoff: Callable[[], None] | None = None
    on_readable: Callable[[], None] | None = None
    on_abort: Callable[[], None] | None = None

    @property
    def pipes(self) -> list[BodyPipe]:
        return [pipe for pipe in self.handoffs if pipe is not None]


async def _set_soon(event: asyncio.Event) -> None:
    await anyio.sleep(0.05)
    event.set()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> PipeSpy:
    """Record ``handoff`` results (both clients), count ``readable`` waits and aborts."""
    found = PipeSpy()
    readable, abort = BodyPipe.readable, BodyPipe.abort

    def spy_handoff(cls: type[Any]) -> None:
        handoff = cls.handoff

        async def spy(self: Any, min_first: int = 0) -> BodyPipe | None:
            pipe: BodyPipe | None = await handoff(self, min_first)
            found.handoffs.append(pipe)
            if found.on_handoff is not None:
                found.on_handoff()
            return pipe

        monkeypatch.setattr(cls, "handoff", spy)

    async def spy_readable(self: BodyPipe) -> None:
        found.readable_calls += 1
        if found.on_readable is not None:
            found.on_readable()
        await readable(self)

    def spy_abort(self: BodyPipe) -> None:
        found.aborts += 1
        abort(self)
        if found.on_abort is not None:
            found.on_abort()

    spy_handoff(_Response)
    spy_handoff(_AiohttpResponse)
    monkeypatch.setattr(BodyPipe, "readable", spy_readable)
    monkeypatch.setattr(BodyPipe, "abort", spy_abort)
    return found


@pytest.fixture
async def lean() -> AsyncIterator[LeanTransport]:
    """The pipeline's transport, made here and passed as ``transport=`` for its counters."""
    async with LeanTransport(handoff_min=HANDOFF) as transport:
        yield transport


# -- a scripted raw storage server ------------------------------------------------------------


@attrs.frozen
class Act:
    """How the raw server answers one request.

    ``serve``: the (rest of the) body. ``reset``: head and ``after`` bytes, then a TCP RST.
    ``stall``: head, ``after`` bytes and ``extra``, then silence until the client leaves.
    ``trickle``: ``step`` bytes every ``pause`` seconds. ``split``: the head alone, the body
    once ``RawStorage.go`` is set. ``cut``: head and ``step`` bytes, then once ``go`` is set
    the body up to ``after``, then a clean close (FIN), after which ``closed`` is set.
    ``endless``: a 1 GiB body, sent for as long as it is read.
    """

    kind: str = "serve"
    after: int = 0
    extra: bytes = b""
    step: int = 32 * 1024
    pause: float = 0.015


SERVE = Act()


def _jpeg_of(size: int) -> bytes:
    return sample_jpeg(size, seed=size % 1000)


class RawStorage:
    """Hand-written HTTP/1.1 storage on loopback: Range-aware, keep-alive, scripted faults.

    Attributes:
        requests: ``(path, Range header or None)`` of every request, in arrival order.
        sent: Body bytes written so far, all connections together.
        go: Releases the body of a ``split`` or ``cut`` answer.
        closed: Set (for threads) once a ``cut`` answer's connection is closed.
    """

    def __init__(self, bodies: dict[str, bytes], default: Act = SERVE) -> None:
        self.bodies = bodies
        self.default = default
        self.plans: dict[str, list[Act]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.go = asyncio.Event()
        self.closed = threading.Event()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def plan(self, path: str, *acts: Act) -> None:
        """Answer the next requests for ``path`` with ``acts``, then with the default."""
        self.plans.setdefault(path, []).extend(acts)

    def ranges(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1].split("?")[0]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                self.requests.append((path, headers.get("range")))
                plan = self.plans.get(path)
                act = plan.pop(0) if plan else self.default
                if not await self._answer(reader, writer, act, self.bodies[path], headers):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except RuntimeError:
            # uvloop before 0.23 answers a write to a connection the client has closed with
            # RuntimeError("... the handler is closed") instead of a ConnectionError.
            if not writer.transport.is_closing():
                raise
        except asyncio.CancelledError:
            pass  # the server is being stopped: end quietly
        finally:
            writer.close()

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        act: Act,
        body: bytes,
        headers: dict[str, str],
    ) -> bool:
        """Answer one request as ``act`` says; whether the connection stays usable."""
        rng = headers.get("range")
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        if act.kind == "endless":
            return await self._endless(writer)
        rest = body[start:]
        if start:
            status = (
                f"206 Partial Content\r\nContent-Range: bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            status = "200 OK"
        head = (
            f'HTTP/1.1 {status}\r\nContent-Type: image/jpeg\r\nETag: "v1"\r\n'
            f"Content-Length: {len(rest)}\r\n\r\n"
        ).encode()
        if act.kind == "split":
            await self._send(writer, head, b"")
            await self.go.wait()
            await self._send(writer, b"", rest)
            return True
        if act.kind == "cut":
            await self._send(writer, head, rest[: act.step])
            await self.go.wait()
            await self._send(writer, b"", rest[act.step : act.after])
            writer.close()
            await writer.wait_closed()
            self.closed.set()
            return False
        if act.kind == "trickle":
            await self._send(writer, head, rest[: act.step])
            for offset in range(act.step, len(rest), act.step):
                await asyncio.sleep(act.pause)
                await self._send(writer, b"", rest[offset : offset + act.step])
            return True
        if act.kind in ("reset", "stall"):
            await self._send(writer, head, rest[: act.after] + act.extra)
            if act.kind == "stall":
                await reader.read()  # silence, until the client gives up
                return False
            await asyncio.sleep(0.05)  # let the bytes reach the client before the RST
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        assert act.kind == "serve", act
        for offset in range(0, len(rest), 256 * 1024):
            await self._send(
                writer, head if offset == 0 else b"", rest[offset : offset + 256 * 1024]
            )
        if not rest:
            await self._send(writer, head, b"")
        return True

    async def _send(self, writer: asyncio.StreamWriter, head: bytes, data: bytes) -> None:
        writer.write(head + data)  # one write: the head and the body's start arrive together
        await writer.drain()

    async def _endless(self, writer: asyncio.StreamWriter) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1073741824\r\n\r\n"
        block = bytes(64 * 1024)
        await self._send(writer, head, b"\xff\xd8\xff\xe0" + bytes(256 * 1024 - 4))
        while True:
            await self._send(writer, b"", block)
            await asyncio.sleep(0.002)


@pytest.fixture
async def raw_storage() -> AsyncIterator[Callable[..., Any]]:
    """Start ``RawStorage`` servers; they are stopped after the test."""
    started: list[RawStorage] = []

    async def start(bodies: dict[str, bytes], default: Act = SERVE) -> RawStorage:
        storage = RawStorage(bodies, default)
        await storage.start()
        started.append(storage)
        return storage

    yield start
    for storage in started:
        await storage.aclose()


def source_of(storage: RawStorage, *paths: str) -> SignedURLSource:
    """The files of ``storage`` at ``paths``, with exact sizes, named ``<stem>.jpg``."""
    return SignedURLSource.from_files(
        RemoteFile(
            id=path.strip("/").removesuffix(".jpg"),
            url=f"{storage.url}{path}?sig=x",
            size=len(storage.bodies[path]),
            mime_type="image/jpeg",
        )
        for path in paths
    )


async def archive_raw(
    dest: Path, storage: RawStorage, *paths: str, **options: Any
) -> ArchiveReport:
    """``archive()`` of ``paths`` on ``storage`` (no client), each stored as ``<stem>.jpg``."""
    source = source_of(storage, *paths)
    return await archive(None, dest, source=source, template="{id}{ext}", **options)


async def assert_archived(dest: Path, expected: dict[str, bytes]) -> None:
    """``dest`` holds exactly ``expected`` (by path), each recorded with its SHA-256."""
    assert expected == files_under(dest)
    entries = await read_manifest(dest)
    assert {path: hashlib.sha256(body).hexdigest() for path, body in expected.items()} == {
        e.path: e.sha256 for e in entries
    }
    assert {path: len(body) for path, body in expected.items()} == {
        e.path: e.bytes for e in entries
    }
    assert [] == temp_files(dest)


async def assert_nothing_archived(dest: Path) -> None:
    """No file under a final name, none in the manifest, no temp file left."""
    assert {} == files_under(dest)
    assert [] == await read_manifest(dest)
    assert [] == temp_files(dest)


# -- aiohttp origins for the client-level tests ----------------------------------------------


def _app() -> web.Application:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def big2(request: web.Request) -> web.Response:
        return web.Response(body=BIG2)

    async def small(request: web.Request) -> web.Response:
        return web.Response(body=SMALL)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(BIG2), 100_000):
            await response.write(BIG2[start : start + 100_000])
        await response.write_eof()
        return response

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(BIG2), headers={"Content-Encoding": "gzip"})

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, body=BIG2)

    app = web.Application()
    for path, handler in [
        ("/big", big),
        ("/big2", big2),
        ("/small", small),
        ("/chunked", chunked),
        ("/gzip", gzipped),
        ("/missing", missing),
    ]:
        app.router.add_get(path, handler)
    return app


async def _serve_app(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    """A well-behaved plain-HTTP storage server (aiohttp.web)."""
    runner, port = await _serve_app()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def body_of(resp: StorageResponse) -> bytes:
    out: list[bytes] = []
    while chunks := await resp.read():
        out.extend(chunks)
    return b"".join(out)


async def read_pipe(pipe: BodyPipe) -> bytes:
    """The whole body, read as the pipeline does: a thread while bytes flow, else the loop."""
    out = bytearray(b"".join(pipe.first))
    view = memoryview(bytearray(128 * 1024))
    while pipe.remaining:
        got = await anyio.to_thread.run_sync(pipe.readinto, view, 0.005)
        if got:
            out += view[:got]
        else:
            await pipe.readable()
    assert 0 == pipe.readinto(view, 0.0)  # nothing more once complete
    return bytes(out)


async def wait_for(event: threading.Event) -> None:
    """Until a thread sets ``event`` (the caller's ``fail_after`` guards against a hang)."""
    await anyio.to_thread.run_sync(event.wait, 20, abandon_on_cancel=True)


# -- the client: StorageHTTP(handoff_min=...) --------------------------------------------------


class TestStorageHTTP:
    async def test_a_piped_body_then_the_connection_is_reused(self, origin: str) -> None:
        """A body read through a pipe leaves the connection at the next answer's start."""
        with anyio.fail_after(20):
            async with StorageHTTP(handoff_min=HANDOFF) as http:
                async with http.get(f"{origin}/big") as resp:
                    pipe = await resp.handoff(64)
                    assert pipe is not None
                    assert sum(map(len, pipe.first)) >= 64
                    assert BIG == await read_pipe(pipe)
                    assert pipe.done
                async with http.get(f"{origin}/big2") as resp:
                    pipe = await resp.handoff(64)
                    assert pipe is not None
                    assert BIG2 == await read_pipe(pipe)
                async with http.get(f"{origin}/small") as resp:
                    assert SMALL == await body_of(resp)
                assert 1 == http.connections_made

    async def test_a_body_below_handoff_min_is_not_held(self, origin: str) -> None:
        """Under ``handoff_min`` there is no pipe; ``read`` has the body as before."""
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            async with http.get(f"{origin}/small") as resp:
                assert await resp.handoff(0) is None
                assert SMALL == await body_of(resp)
            async with http.get(f"{origin}/small") as resp:
                assert SMALL == await body_of(resp)
            assert 1 == http.connections_made

    async def test_without_handoff_min_nothing_is_held(self, origin: str) -> None:
        """``handoff_min=None``: a body is never handed off, whatever its size."""
        async with StorageHTTP(handoff_min=None) as http, http.get(f"{origin}/big") as resp:
            assert await resp.handoff(0) is None
            assert BIG == await body_of(resp)

    async def test_handoff_waits_for_its_first_bytes(self, raw_storage: Any) -> None:
        """Only the head has come: ``handoff(64)`` reads on until 64 body bytes are here."""
        storage = await raw_storage({"/p.jpg": BIG2}, Act("split"))
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(_set_soon, storage.go)
                        pipe = await resp.handoff(64)
                    assert pipe is not None
                    assert sum(map(len, pipe.first)) >= 64
                    assert BIG2 == await read_pipe(pipe)
            assert 1 == http.connections_made

    async def test_a_held_body_read_in_the_loop(self, raw_storage: Any) -> None:
        """A held body that nobody hands off is read by ``read``: the hold is released."""
        storage = await raw_storage({"/p.jpg": BIG2}, Act("split"))
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    storage.go.set()
                    assert BIG2 == await body_of(resp)
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    assert BIG2 == await body_of(resp)
            assert 1 == http.connections_made

    async def test_handoff_with_no_body_bytes_yet(self, raw_storage: Any) -> None:
        """``min_first=0`` takes the body before any of it arrived; the pipe waits for it."""
        storage = await raw_storage({"/p.jpg": BIG2}, Act("split"))
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    pipe = await resp.handoff(0)
                    assert pipe is not None
                    assert ([], len(BIG2)) == (pipe.first, pipe.remaining)
                    storage.go.set()
                    assert BIG2 == await read_pipe(pipe)
            assert 1 == http.connections_made

    async def test_the_pipe_never_reads_past_the_body(self, raw_storage: Any) -> None:
        """Bytes after the announced length stay in the socket; the body is exact."""
        extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
        storage = await raw_storage({"/p.jpg": BIG2}, Act("stall", after=len(BIG2), extra=extra))
        async with (
            StorageHTTP(handoff_min=HANDOFF) as http,
            http.get(f"{storage.url}/p.jpg") as resp,
        ):
            pipe = await resp.handoff(0)
            assert pipe is not None
            with anyio.fail_after(10):
                assert BIG2 == await read_pipe(pipe)
            assert pipe.done

    async def test_a_reset_mid_pipe_is_a_cut_body(self, raw_storage: Any) -> None:
        """A reset while the thread reads raises StorageBodyCut; the connection is dropped."""
        storage = await raw_storage({"/p.jpg": BIG2})
        storage.plan("/p.jpg", Act("reset", after=200_000))
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    pipe = await resp.handoff(64)
                    assert pipe is not None
                    with pytest.raises(StorageBodyCut):
                        await read_pipe(pipe)
                    assert not pipe.done
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    pipe = await resp.handoff(64)
                    assert pipe is not None
                    assert BIG2 == await read_pipe(pipe)
            assert 2 == http.connections_made

    async def test_abort_stops_a_thread_blocked_in_readinto(self, raw_storage: Any) -> None:
        """``abort`` from the loop wakes a thread waiting for bytes: StorageBodyCut at once."""
        storage = await raw_storage({"/p.jpg": BIG2}, Act("stall", after=100_000))
        waiting = threading.Event()

        def read_until_cut(pipe: BodyPipe) -> int:
            view = memoryview(bytearray(64 * 1024))
            got = sum(map(len, pipe.first))
            while got < 100_000:  # what the server sent, then it stalls
                got += pipe.readinto(view, 5.0)
            waiting.set()
            pipe.readinto(view, 30.0)  # blocks: storage is silent
            raise AssertionError("readinto returned on a silent connection")

        async with StorageHTTP(handoff_min=HANDOFF) as http:
            async with http.get(f"{storage.url}/p.jpg") as resp:
                pipe = await resp.handoff(64)
                assert pipe is not None
                with anyio.fail_after(10):
                    async with anyio.create_task_group() as tg:

                        async def reader() -> None:
                            with pytest.raises(StorageBodyCut, match="stopped"):
                                await anyio.to_thread.run_sync(
                                    read_until_cut, pipe, abandon_on_cancel=True
                                )

                        tg.start_soon(reader)
                        await wait_for(waiting)
                        await anyio.sleep(0.05)  # well inside poll() by now
                        pipe.abort()
                assert pipe.aborted
                assert not pipe.done
            storage.plans["/p.jpg"] = [SERVE]
            async with http.get(f"{storage.url}/p.jpg") as resp:
                assert BIG2 == await body_of(resp)
            assert 2 == http.connections_made

    async def test_a_global_socket_timeout_leaves_readinto_non_blocking(
        self, raw_storage: Any
    ) -> None:
        """``readinto(view, 0)`` on a quiet body returns 0 whatever the process-wide default."""
        storage = await raw_storage({"/p.jpg": BIG2}, Act("stall", after=0))
        async with (
            StorageHTTP(handoff_min=HANDOFF) as http,
            http.get(f"{storage.url}/p.jpg") as resp,
        ):
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(0.2)  # as some applications do, for urllib and the like
            try:
                pipe = await resp.handoff(0)
            finally:
                socket.setdefaulttimeout(previous)
            assert pipe is not None
            view = memoryview(bytearray(64 * 1024))
            with anyio.fail_after(10):
                assert 0 == await anyio.to_thread.run_sync(pipe.readinto, view, 0.0)

    @pytest.mark.parametrize(
        ("path", "status", "body"),
        [("/chunked", 200, BIG2), ("/gzip", 200, BIG2), ("/missing", 404, BIG2)],
        ids=["chunked", "gzip", "404"],
    )
    async def test_bodies_that_are_not_held(
        self, origin: str, path: str, status: int, body: bytes
    ) -> None:
        """Chunked, encoded and non-2xx answers are read by the loop, whatever their size."""
        async with StorageHTTP(handoff_min=HANDOFF) as http:
            async with http.get(f"{origin}{path}") as resp:
                assert status == resp.status
                assert await resp.handoff(0) is None
                assert body == await body_of(resp)
            async with http.get(f"{origin}/big") as resp:  # still a usable connection
                assert await resp.handoff(0) is not None
            assert 1 == http.connections_made


class TestTLS:
    @pytest.fixture
    async def https_origin(self, ca: trustme.CA) -> AsyncIterator[str]:
        server_ctx = serving(ca, "127.0.0.1")
        runner, port = await _serve_app(server_ctx)
        try:
            yield f"https://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    async def test_a_tls_body_is_piped_in_its_session(
        self, ca: trustme.CA, https_origin: str
    ) -> None:
        """Over TLS the thread continues the connection's session; the connection is reused."""
        client_ctx = trusting(ca)
        async with StorageHTTP(ssl=client_ctx, handoff_min=HANDOFF) as http:
            for _ in range(2):
                async with http.get(f"{https_origin}/big") as resp:
                    pipe = await resp.handoff(0)
                    assert isinstance(pipe, TLSBodyPipe)
                    assert BIG == await read_pipe(pipe)
            assert 1 == http.connections_made


# -- the pipeline: archive() ---------------------------------------------------------------------


class TestArchive:
    async def test_large_files_go_through_the_pipe(
        self,
        client: Any,
        emulator: Any,
        dest: Path,
        spy: PipeSpy,
        lean: LeanTransport,
    ) -> None:
        """Files from 256 KiB on are piped, byte-identical and hashed; one connection serves all."""
        seeded = await seed(client, emulator, 3, sizes=[1_572_864, 700_001, 40_000])

        with anyio.fail_after(20):
            report = await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=1,
                transport=lean,
            )

        assert (3, 0, []) == (report.downloaded, report.skipped, report.failed)
        assert sum(len(p) for p in seeded.photos.values()) == report.bytes
        assert 2 == len(spy.pipes)
        assert all(pipe.done for pipe in spy.pipes)
        assert 3 == emulator.count("GET", "/storage/")
        assert 1 == lean.connections_made
        entries = await read_manifest(dest)
        on_disk = files_under(dest)
        assert 3 == len(entries) == len(on_disk)
        for entry in entries:
            assert entry.submission_id is not None
            assert seeded.photos[entry.submission_id] == on_disk[entry.path]
            assert seeded.sha256(entry.submission_id) == entry.sha256
        assert [] == temp_files(dest)

    async def test_headers_alone_then_the_body(
        self, raw_storage: Any, dest: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Headers without the first body bytes: the hand-off waits for them, then pipes."""
        storage = await raw_storage({"/a.jpg": PHOTO}, Act("split"))
        pipes: list[BodyPipe | None] = []
        handoff = _Response.handoff

        async def spy(self: Any, min_first: int = 0) -> BodyPipe | None:
            storage.go.set()  # the body follows only once the hand-off is asked for
            pipe = await handoff(self, min_first)
            pipes.append(pipe)
            return pipe

        monkeypatch.setattr(_Response, "handoff", spy)
        with anyio.fail_after(10):
            report = await archive_raw(dest, storage, "/a.jpg")

        assert (1, []) == (report.downloaded, report.failed)
        assert 1 == len(pipes)
        assert pipes[0] is not None
        await assert_archived(dest, {"a.jpg": PHOTO})

    async def test_a_cut_body_resumes_with_range(
        self, client: Any, emulator: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """A piped body cut mid-stream keeps every byte received and resumes from there."""
        seeded = await seed(client, emulator, 1, sizes=[2 << 20])
        (sub_id,) = seeded.photos
        emulator.faults.cut_body(700_000, path="/storage/")

        with anyio.fail_after(20):
            report = await archive(client, dest, photo_requests=[seeded.photo_request_id], **FAST)

        assert (1, []) == (report.downloaded, report.failed)
        gets = [r for r in emulator.requests if "/storage/" in r.path]
        assert 2 == len(gets)
        assert gets[0].range is None
        resumed = gets[1].range
        assert resumed is not None
        start = int(resumed.removeprefix("bytes=").rstrip("-"))
        assert 700_000 == start  # every byte received before the cut was kept
        assert 2 == len(spy.pipes)  # the first answer and the resume, both piped
        (entry,) = await read_manifest(dest)
        assert seeded.photos[sub_id] == (dest / entry.path).read_bytes()
        assert seeded.sha256(sub_id) == entry.sha256
        assert [] == temp_files(dest)

    async def test_every_byte_before_a_clean_cut_is_kept(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Bytes that arrived before storage closed the connection are written; Range follows."""
        storage = await raw_storage({"/a.jpg": PHOTO})
        storage.plan("/a.jpg", Act("cut", step=1000, after=61_000))
        spy.on_handoff = storage.go.set

        def opener(path: str) -> BinaryIO:
            # The thread's first write (pipe.first) waits until storage has closed: the rest
            # of the bytes and the FIN are then all in the socket when the thread reads on.
            storage.closed.wait(10)
            return open(path, "xb")

        with anyio.fail_after(15):
            report = await archive_raw(
                dest, storage, "/a.jpg", settings=FetchSettings(opener=opener, retry=FAST_RETRY)
            )

        assert (1, []) == (report.downloaded, report.failed)
        assert 2 == len(spy.pipes)
        await assert_archived(dest, {"a.jpg": PHOTO})
        assert [None, "bytes=61000-"] == storage.ranges("/a.jpg")

    async def test_a_reset_mid_body_is_retried(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """A TCP reset while the thread reads: retried (resumed) and stored whole."""
        storage = await raw_storage({"/a.jpg": PHOTO})
        storage.plan("/a.jpg", Act("reset", after=300_000))

        with anyio.fail_after(10):
            report = await archive_raw(dest, storage, "/a.jpg", **FAST)

        assert (1, []) == (report.downloaded, report.failed)
        first, second = storage.ranges("/a.jpg")
        assert first is None
        start = int(second.removeprefix("bytes=").split("-")[0]) if second else 0
        assert 0 <= start <= 300_000
        assert 2 == len(spy.pipes)  # the attempt that was reset, and the retry
        await assert_archived(dest, {"a.jpg": PHOTO})

    async def test_silent_storage_fails_the_file(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Storage silent mid-body for read_timeout: retried, then failed; nothing kept."""
        storage = await raw_storage({"/a.jpg": PHOTO}, Act("stall", after=0))
        storage.plan("/a.jpg", Act("stall", after=100_000))

        with anyio.fail_after(15):
            report = await archive_raw(
                dest, storage, "/a.jpg", read_timeout=0.3, max_attempts=2, **FAST
            )

        assert 0 == report.downloaded
        ((failed),) = report.failed
        assert ("a", "connection_error") == (failed.submission_id, failed.reason)
        assert "no data from storage" in failed.message
        # The first attempt made progress (not counted), two silent resumes did not.
        assert [None, "bytes=100000-", "bytes=100000-"] == storage.ranges("/a.jpg")
        assert 3 == len(spy.pipes)
        assert spy.readable_calls >= 3
        await assert_nothing_archived(dest)

    async def test_a_stall_then_storage_recovers(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Silent once mid-body, then well: the file resumes after the timeout and is whole."""
        storage = await raw_storage({"/a.jpg": PHOTO})
        storage.plan("/a.jpg", Act("stall", after=100_000))

        with anyio.fail_after(10):
            report = await archive_raw(dest, storage, "/a.jpg", read_timeout=0.3, **FAST)

        assert (1, []) == (report.downloaded, report.failed)
        assert [None, "bytes=100000-"] == storage.ranges("/a.jpg")
        assert spy.readable_calls >= 1
        await assert_archived(dest, {"a.jpg": PHOTO})

    @pytest.mark.parametrize(
        "way",
        [
            pytest.param("loop", id="loop"),
            pytest.param("pipe", id="pipe"),
        ],
    )
    async def test_bytes_before_a_stall_are_counted(
        self,
        raw_storage: Any,
        dest: Path,
        spy: PipeSpy,
        monkeypatch: pytest.MonkeyPatch,
        way: str,
    ) -> None:
        """report.bytes counts every byte of a file resumed after a read timeout."""
        if way == "loop":
            monkeypatch.setattr(_pipeline, "_HANDOFF_BYTES", 1 << 40)
        storage = await raw_storage({"/a.jpg": PHOTO})
        storage.plan("/a.jpg", Act("stall", after=100_000))
        events: list[ProgressEvent] = []

        with anyio.fail_after(10):
            report = await archive_raw(
                dest, storage, "/a.jpg", read_timeout=0.3, on_progress=events.append, **FAST
            )

        assert (1, []) == (report.downloaded, report.failed)
        assert (way == "pipe") == bool(spy.pipes)
        await assert_archived(dest, {"a.jpg": PHOTO})
        assert len(PHOTO) == sum(e.bytes for e in events if e.kind == "bytes")
        assert len(PHOTO) == report.bytes

    async def test_progress_of_a_large_piped_body(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """A 9 MiB body reports progress from the stream thread as it goes, and adds up."""
        body = b"\xff\xd8\xff\xe0" + random.Random(6).randbytes(9 << 20)
        storage = await raw_storage({"/a.jpg": body})
        events: list[ProgressEvent] = []

        with anyio.fail_after(15):
            report = await archive_raw(dest, storage, "/a.jpg", on_progress=events.append)

        assert (1, []) == (report.downloaded, report.failed)
        assert 1 == len(spy.pipes)
        kinds = [e.kind for e in events]
        increments = [e.bytes for e in events if e.kind == "bytes"]
        assert len(increments) >= 3  # every 4 MiB from the thread, then the rest
        assert kinds.index("bytes") < kinds.index("file_done")
        assert len(body) == sum(increments) == report.bytes
        await assert_archived(dest, {"a.jpg": body})

    async def test_a_callers_aiohttp_session_reads_in_the_loop(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """With the caller's aiohttp session there is no pipe; large files still arrive whole."""
        storage = await raw_storage({"/a.jpg": PHOTO})

        async with aiohttp.ClientSession() as session:
            with anyio.fail_after(10):
                report = await archive_raw(dest, storage, "/a.jpg", http=session)

        assert (1, []) == (report.downloaded, report.failed)
        assert [None] == spy.handoffs
        await assert_archived(dest, {"a.jpg": PHOTO})

    async def test_no_descriptor_for_the_pipe_reads_in_the_loop(
        self,
        raw_storage: Any,
        dest: Path,
        spy: PipeSpy,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """No file descriptor left to duplicate (EMFILE): the body is read in the loop."""
        from visiono_async.download import _http

        def no_dup(fd: int) -> int:
            raise OSError(errno.EMFILE, "Too many open files")

        monkeypatch.setattr(_http.os, "dup", no_dup)
        storage = await raw_storage({"/a.jpg": PHOTO})

        with anyio.fail_after(10):
            report = await archive_raw(dest, storage, "/a.jpg")

        assert (1, []) == (report.downloaded, report.failed)
        assert [None] == spy.handoffs
        await assert_archived(dest, {"a.jpg": PHOTO})

    async def test_trickling_storage_waits_in_the_loop(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """32 KiB every 15 ms: the thread hands the waits to the loop; the file is whole."""
        body = _jpeg_of(600_000)
        storage = await raw_storage({"/a.jpg": body}, Act("trickle"))

        with anyio.fail_after(15):
            report = await archive_raw(dest, storage, "/a.jpg")

        assert (1, []) == (report.downloaded, report.failed)
        assert 1 == len(spy.pipes)
        assert spy.readable_calls >= 2
        await assert_archived(dest, {"a.jpg": body})

    async def test_many_trickling_files_share_four_stream_threads(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Ten slow bodies at concurrency 8 on 4 stream threads: all complete, no deadlock."""
        bodies = {f"/f{i}.jpg": _jpeg_of(400_000 + i) for i in range(10)}
        storage = await raw_storage(bodies, Act("trickle", pause=0.01))

        with anyio.fail_after(20):
            report = await archive_raw(dest, storage, *bodies, concurrency=8)

        assert (10, []) == (report.downloaded, report.failed)
        assert 10 == len(spy.pipes)
        assert spy.readable_calls >= 10
        await assert_archived(dest, {p.lstrip("/"): b for p, b in bodies.items()})

    async def test_cancelled_while_storage_is_silent(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Cancelled while the loop waits for a stalled body: prompt, nothing left behind."""
        storage = await raw_storage({"/a.jpg": PHOTO}, Act("stall", after=len(PHOTO) // 2))
        waiting = anyio.Event()
        spy.on_readable = waiting.set
        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await archive_raw(dest, storage, "/a.jpg")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await waiting.wait()
                scope.cancel()

        assert scope.cancelled_caught
        assert 1 == len(spy.pipes)
        await assert_nothing_archived(dest)

    async def test_cancelled_while_the_thread_reads(
        self, raw_storage: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """Cancelled while the stream thread works: the pipe is aborted, the thread stops."""
        storage = await raw_storage({"/a.jpg": b""}, Act("endless"))
        in_write = threading.Event()
        release = threading.Event()
        aborted = threading.Event()
        spy.on_abort = aborted.set

        class _HeldFile:
            """A temp file whose write past 512 KiB waits until the test lets it go."""

            def __init__(self, path: str) -> None:
                self._raw = open(path, "xb")  # noqa: SIM115 - closed by the pipeline
                self._written = 0

            def write(self, data: bytes) -> int:
                if self._written >= 512 * 1024 and not release.is_set():
                    in_write.set()
                    release.wait(10)
                self._written += len(data)
                return self._raw.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._raw, name)

        scope = anyio.CancelScope()

        async def run() -> None:
            with scope:
                await archive(
                    None,
                    dest,
                    source=SignedURLSource.from_files(
                        [RemoteFile(id="a", url=f"{storage.url}/a.jpg", mime_type="image/jpeg")]
                    ),
                    template="{id}{ext}",
                    settings=FetchSettings(opener=_HeldFile),
                )

        with anyio.fail_after(15):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await wait_for(in_write)
                scope.cancel()
                await wait_for(aborted)
                release.set()

        assert scope.cancelled_caught
        assert 1 == spy.aborts
        assert 1 == len(spy.pipes)
        assert spy.pipes[0].aborted
        await assert_nothing_archived(dest)

    async def test_a_large_html_page_labelled_jpeg_fails_as_error_body(
        self,
        client: Any,
        emulator: Any,
        dest: Path,
        spy: PipeSpy,
        lean: LeanTransport,
    ) -> None:
        """A 400 kB HTML page with a 200 and image/jpeg is sniffed in the pipe, never stored."""
        seeded = await seed(client, emulator, 2, sizes=[400_000, 400_000])
        page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
        page += b" " * (400_000 - len(page))
        emulator.faults.fail_next(
            1, status=200, path="/storage/", body=page, content_type="image/jpeg"
        )

        with anyio.fail_after(20):
            report = await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=1,
                transport=lean,
            )

        assert 1 == report.downloaded
        assert ["error_body"] == [f.reason for f in report.failed]
        assert 2 == len(spy.pipes)  # the page was sniffed from pipe.first
        assert 2 == lean.connections_made  # an unread body is not reused
        on_disk = files_under(dest)
        assert 1 == len(on_disk)
        assert set(on_disk.values()) <= set(seeded.photos.values())
        assert page not in on_disk.values()
        assert 1 == len(await read_manifest(dest))
        assert [] == temp_files(dest)

    async def test_disk_full_while_piping_stops_the_run(
        self, client: Any, emulator: Any, dest: Path, spy: PipeSpy
    ) -> None:
        """ENOSPC in the stream thread: disk_full, the run stops, temp files are removed."""
        seeded = await seed(client, emulator, 3, sizes=[600_000] * 3)
        disk = Disk(free=900_000)

        with anyio.fail_after(20), pytest.raises(ArchiveError) as info:
            await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=1,
                settings=FetchSettings(opener=disk.open),
            )

        error = info.value
        assert "disk_full" == error.reason
        assert "No space left" in str(error)
        assert error.report is not None
        assert 1 == error.report.downloaded
        assert ["disk_full"] == [f.reason for f in error.report.failed]
        assert len(spy.pipes) >= 2  # the first file's, and the one the disk refused
        assert [] == temp_files(dest)
        on_disk = files_under(dest)
        assert 1 == len(on_disk)
        assert set(on_disk.values()) <= set(seeded.photos.values())
        assert {e.path for e in await read_manifest(dest)} == set(on_disk)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert (2, 1, []) == (report.downloaded, report.skipped, report.failed)
        assert set(seeded.photos.values()) == set(files_under(dest).values())
