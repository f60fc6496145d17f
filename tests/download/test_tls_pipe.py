"""Large HTTPS bodies piped to a stream thread inside the connection's own TLS session.

The same faults as ``test_body_pipe.py`` (cut, reset, silence, bytes past the body, reuse,
cancellation), over TLS: the scripted raw server and ``Misbehaving`` behind a trustme
certificate, and real nginx with one. The thread continues the session the event loop
started (``TLSBodyPipe``); what it leaves in the session decides whether the connection
is reused.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from archive_helpers import serving, trusting
from misbehaving import Misbehaving, answer, answer_then_close, answer_then_reset, ok

from tests.conftest import require_binary
from tests.download.test_body_pipe import (
    BIG,
    BIG2,
    HANDOFF,
    PHOTO,
    SERVE,
    SMALL,
    Act,
    PipeSpy,
    RawStorage,
    anyio_backend,
    archive_raw,
    assert_archived,
    assert_nothing_archived,
    body_of,
    read_pipe,
    spy,
    wait_for,
)
from visiono_async.download import FetchSettings, RemoteFile, SignedURLSource, archive
from visiono_async.download._http import LeanTransport, StorageBodyCut, TLSBodyPipe
from visiono_async.testing._nginx import NginxStorage

__all__ = ["anyio_backend", "spy"]  # fixtures, imported to be used here

FAST = {"backoff": 0.01}


class TLSRawStorage(RawStorage):
    """``RawStorage`` behind TLS: the same scripted answers, inside a TLS session."""

    def __init__(self, context: ssl.SSLContext, bodies: dict[str, bytes], default: Act) -> None:
        super().__init__(bodies, default)
        self.context = context

    async def start(self) -> str:
        self._server = await asyncio.start_server(
            self._on_connect, "127.0.0.1", 0, ssl=self.context
        )
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url


@pytest.fixture
async def tls_storage(ca: trustme.CA) -> AsyncIterator[Callable[..., Any]]:
    """Start ``TLSRawStorage`` servers (certificate for 127.0.0.1); stopped after the test."""
    started: list[RawStorage] = []

    async def start(bodies: dict[str, bytes], default: Act = SERVE) -> RawStorage:
        storage = TLSRawStorage(serving(ca, "127.0.0.1"), bodies, default)
        await storage.start()
        started.append(storage)
        return storage

    yield start
    for storage in started:
        await storage.aclose()


@pytest.fixture
async def https(ca: trustme.CA) -> AsyncIterator[LeanTransport]:
    """The lean client trusting the test CA, handing off from 256 KiB."""
    async with LeanTransport(ssl=trusting(ca), handoff_min=HANDOFF) as transport:
        yield transport


async def piped(http: LeanTransport, url: str, min_first: int = 64) -> bytes:
    """GET ``url`` and read its body through a TLS pipe (which it must get)."""
    async with http.get(url) as resp:
        pipe = await resp.handoff(min_first)
        assert isinstance(pipe, TLSBodyPipe)
        return await read_pipe(pipe)


class TestTLSBodyPipe:
    async def test_piped_bodies_then_the_connection_is_reused(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """Two bodies piped in one session, then one read in the loop: one connection."""
        storage = await tls_storage({"/big": BIG, "/big2": BIG2, "/small": SMALL})
        with anyio.fail_after(20):
            assert BIG == await piped(https, f"{storage.url}/big")
            assert BIG2 == await piped(https, f"{storage.url}/big2")
            async with https.get(f"{storage.url}/small") as resp:
                assert SMALL == await body_of(resp)
            assert BIG == await piped(https, f"{storage.url}/big")
        assert 1 == https.connections_made

    async def test_handoff_waits_for_its_first_bytes(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """Only the head has come: the loop decrypts on until 64 body bytes are here."""
        storage = await tls_storage({"/p.jpg": BIG2}, Act("split"))
        with anyio.fail_after(10):
            async with https.get(f"{storage.url}/p.jpg") as resp:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_set_soon, storage.go)
                    pipe = await resp.handoff(64)
                assert isinstance(pipe, TLSBodyPipe)
                assert sum(map(len, pipe.first)) >= 64
                assert BIG2 == await read_pipe(pipe)
        assert 1 == https.connections_made

    async def test_a_held_body_read_in_the_loop(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """A held body nobody hands off is read by ``read``, records already received too."""
        storage = await tls_storage({"/p.jpg": BIG2}, Act("stall", after=len(BIG2)))
        with anyio.fail_after(10):
            async with https.get(f"{storage.url}/p.jpg") as resp:
                assert BIG2 == await body_of(resp)

    async def test_records_already_here_come_in_one_read(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """One ``readinto`` decrypts every record already received, not just one (16 KiB)."""
        storage = await tls_storage({"/p.jpg": BIG2}, Act("stall", after=len(BIG2)))
        with anyio.fail_after(10):
            async with https.get(f"{storage.url}/p.jpg") as resp:
                pipe = await resp.handoff(0)
                assert isinstance(pipe, TLSBodyPipe)
                view = memoryview(bytearray(len(BIG2)))
                sizes = []
                while pipe.remaining:
                    got = await anyio.to_thread.run_sync(pipe.readinto, view, 0.005)
                    sizes.append(got)
                    if not got:
                        await pipe.readable()
                assert max(sizes) > 16 * 1024

    async def test_a_held_body_already_received_is_delivered(
        self, tls_storage: Any, ca: trustme.CA
    ) -> None:
        """The whole answer came in one read and was held after its head: resuming delivers
        the records waiting in the session, with no more bytes coming from the socket."""
        storage = await tls_storage({"/p.jpg": SMALL}, Act("stall", after=len(SMALL)))
        context = trusting(ca)
        async with LeanTransport(ssl=context, handoff_min=64 * 1024, read_timeout=3) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    assert SMALL == await body_of(resp)

    async def test_bytes_past_the_body_drop_the_connection(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """A second answer in the body's last records: the body is exact, the connection
        is not reused (those bytes would be taken for the next answer)."""
        extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
        storage = await tls_storage({"/p.jpg": BIG2})
        storage.plan("/p.jpg", Act("stall", after=len(BIG2), extra=extra))
        with anyio.fail_after(10):
            async with https.get(f"{storage.url}/p.jpg") as resp:
                pipe = await resp.handoff(0)
                assert isinstance(pipe, TLSBodyPipe)
                assert BIG2 == await read_pipe(pipe)
                assert pipe.done
                assert not pipe.clean_end()
            assert BIG2 == await piped(https, f"{storage.url}/p.jpg")
        assert 2 == https.connections_made

    @pytest.mark.parametrize(
        "act",
        [
            pytest.param(Act("reset", after=200_000), id="reset"),
            pytest.param(Act("cut", step=64 * 1024, after=300_000), id="tls-close"),
        ],
    )
    async def test_a_body_cut_mid_pipe(
        self, tls_storage: Any, https: LeanTransport, act: Act
    ) -> None:
        """A reset, or the TLS session ended (close_notify, FIN) mid-body: StorageBodyCut,
        and the next request gets a fresh connection."""
        storage = await tls_storage({"/p.jpg": BIG2})
        storage.plan("/p.jpg", act)
        storage.go.set()
        with anyio.fail_after(10):
            async with https.get(f"{storage.url}/p.jpg") as resp:
                pipe = await resp.handoff(64)
                assert isinstance(pipe, TLSBodyPipe)
                with pytest.raises(StorageBodyCut):
                    await read_pipe(pipe)
                assert not pipe.done
            assert BIG2 == await piped(https, f"{storage.url}/p.jpg")
        assert 2 == https.connections_made

    async def test_silence_is_waited_for_in_the_loop(
        self, tls_storage: Any, ca: trustme.CA
    ) -> None:
        """A silent session: ``readinto`` returns 0, ``readable`` times out in the loop."""
        storage = await tls_storage({"/p.jpg": BIG2}, Act("stall", after=100_000))
        async with LeanTransport(ssl=trusting(ca), handoff_min=HANDOFF, read_timeout=0.2) as http:
            with anyio.fail_after(10):
                async with http.get(f"{storage.url}/p.jpg") as resp:
                    pipe = await resp.handoff(64)
                    assert isinstance(pipe, TLSBodyPipe)
                    with pytest.raises(TimeoutError, match="no data from storage"):
                        await read_pipe(pipe)
                    assert 0 == await anyio.to_thread.run_sync(
                        pipe.readinto, memoryview(bytearray(1024)), 0.0
                    )

    async def test_abort_stops_a_thread_blocked_in_readinto(
        self, tls_storage: Any, https: LeanTransport
    ) -> None:
        """``abort`` from the loop wakes a thread waiting inside the session: cut at once."""
        storage = await tls_storage({"/p.jpg": BIG2}, Act("stall", after=100_000))
        waiting = threading.Event()

        def read_until_cut(pipe: TLSBodyPipe) -> int:
            view = memoryview(bytearray(64 * 1024))
            got = sum(map(len, pipe.first))
            while got < 100_000:
                got += pipe.readinto(view, 5.0)
            waiting.set()
            pipe.readinto(view, 30.0)  # blocks: storage is silent
            raise AssertionError("readinto returned on a silent connection")

        async with https.get(f"{storage.url}/p.jpg") as resp:
            pipe = await resp.handoff(64)
            assert isinstance(pipe, TLSBodyPipe)
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
        storage.plans["/p.jpg"] = [SERVE]
        with anyio.fail_after(10):
            assert BIG2 == await piped(https, f"{storage.url}/p.jpg")
        assert 2 == https.connections_made


async def _set_soon(event: asyncio.Event) -> None:
    await anyio.sleep(0.05)
    event.set()


class TestArchiveOverTLS:
    async def test_large_and_small_files_over_one_session(
        self, tls_storage: Any, https: LeanTransport, dest: Path, spy: PipeSpy
    ) -> None:
        """Large files are piped inside the session, small ones read in the loop; byte-exact."""
        bodies = {"/a.jpg": PHOTO, "/b.jpg": PHOTO[:400_000], "/c.jpg": PHOTO[:30_000]}
        storage = await tls_storage(bodies)
        with anyio.fail_after(20):
            report = await archive_raw(dest, storage, *bodies, concurrency=1, transport=https)
        assert (3, []) == (report.downloaded, report.failed)
        assert 2 == len(spy.pipes)
        assert all(isinstance(pipe, TLSBodyPipe) and pipe.done for pipe in spy.pipes)
        assert 1 == https.connections_made
        await assert_archived(dest, {p.lstrip("/"): b for p, b in bodies.items()})

    async def test_a_cut_body_resumes_with_range(
        self, tls_storage: Any, https: LeanTransport, dest: Path, spy: PipeSpy
    ) -> None:
        """The session ends mid-body: the retry asks for the rest, the file is whole."""
        storage = await tls_storage({"/a.jpg": PHOTO})
        storage.plan("/a.jpg", Act("cut", step=64 * 1024, after=300_000))
        storage.go.set()
        with anyio.fail_after(10):
            report = await archive_raw(dest, storage, "/a.jpg", transport=https, **FAST)
        assert (1, []) == (report.downloaded, report.failed)
        first, second = storage.ranges("/a.jpg")
        assert first is None
        assert second is not None and second.startswith("bytes=")
        assert 2 == len(spy.pipes)
        await assert_archived(dest, {"a.jpg": PHOTO})

    async def test_silent_storage_fails_the_file(
        self, tls_storage: Any, ca: trustme.CA, dest: Path, spy: PipeSpy
    ) -> None:
        """Silent mid-body for read_timeout: resumed, then failed as connection_error."""
        storage = await tls_storage({"/a.jpg": PHOTO}, Act("stall", after=0))
        storage.plan("/a.jpg", Act("stall", after=100_000))
        async with LeanTransport(ssl=trusting(ca), handoff_min=HANDOFF, read_timeout=0.3) as http:
            with anyio.fail_after(15):
                report = await archive_raw(
                    dest, storage, "/a.jpg", transport=http, max_attempts=2, **FAST
                )
        ((failed),) = report.failed
        assert "connection_error" == failed.reason
        assert "no data from storage" in failed.message
        assert spy.readable_calls >= 1
        assert all(isinstance(pipe, TLSBodyPipe) for pipe in spy.pipes)
        await assert_nothing_archived(dest)

    async def test_cancelled_while_the_thread_reads(
        self, tls_storage: Any, https: LeanTransport, dest: Path, spy: PipeSpy
    ) -> None:
        """Cancelled while the stream thread decrypts an endless body: aborted, prompt."""
        storage = await tls_storage({"/a.jpg": b""}, Act("endless"))
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
        files = [RemoteFile(id="a", url=f"{storage.url}/a.jpg", mime_type="image/jpeg")]

        async def run() -> None:
            with scope:
                await archive(
                    None,
                    dest,
                    source=SignedURLSource.from_files(files),
                    template="{id}{ext}",
                    settings=FetchSettings(opener=_HeldFile),
                    transport=https,
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
        assert isinstance(spy.pipes[0], TLSBodyPipe)
        assert spy.pipes[0].aborted
        await assert_nothing_archived(dest)


class TestMisbehavingOverTLS:
    @pytest.fixture
    async def secure(self, ca: trustme.CA) -> AsyncIterator[Misbehaving]:
        server = await Misbehaving.start(ssl_context=serving(ca, "127.0.0.1"))
        yield server
        await server.aclose()

    async def test_two_answers_in_one_write(
        self, secure: Misbehaving, https: LeanTransport
    ) -> None:
        """A second answer right after a piped body: the body is exact, the connection is
        dropped, and the next file comes whole on a new one."""
        secure.route("/a.jpg", answer(ok(BIG) + ok(b"surprise")))
        secure.route("/b.jpg", answer(ok(BIG2)))
        with anyio.fail_after(10):
            assert BIG == await piped(https, secure.url("/a.jpg"))
            assert BIG2 == await piped(https, secure.url("/b.jpg"))
        assert 2 == https.connections_made == secure.connections

    async def test_the_next_file_reuses_the_session(
        self, secure: Misbehaving, https: LeanTransport
    ) -> None:
        """Bodies framed exactly: every request after the first rides the same session."""
        secure.route("/a.jpg", answer(ok(BIG)))
        secure.route("/b.jpg", answer(ok(SMALL)))
        with anyio.fail_after(10):
            for _ in range(3):
                assert BIG == await piped(https, secure.url("/a.jpg"))
                async with https.get(secure.url("/b.jpg")) as resp:
                    assert SMALL == await body_of(resp)
        assert 1 == https.connections_made == secure.connections
        assert [0] * 6 == [r.connection for r in secure.requests]

    @pytest.mark.parametrize(
        "behaviour",
        [
            pytest.param(answer_then_close(ok(BIG)[:-1000]), id="closed"),
            pytest.param(answer_then_reset(ok(BIG)[:-1000]), id="reset"),
        ],
    )
    async def test_a_short_body_is_cut(
        self, secure: Misbehaving, https: LeanTransport, behaviour: Any
    ) -> None:
        """The connection ends 1000 bytes early, closed or reset: StorageBodyCut."""
        secure.route("/a.jpg", behaviour)
        with anyio.fail_after(10):
            with pytest.raises(StorageBodyCut):
                await piped(https, secure.url("/a.jpg"), min_first=0)

    @pytest.mark.parametrize("size", [SMALL, BIG], ids=["loop", "pipe"])
    async def test_a_tls_close_before_the_end_is_cut_at_once(
        self, secure: Misbehaving, https: LeanTransport, size: bytes
    ) -> None:
        """close_notify 1000 bytes early (and no FIN): cut at once, not a read timeout."""
        secure.route("/a.jpg", answer_then_close(ok(size)[:-1000]))
        with anyio.fail_after(10), pytest.raises(StorageBodyCut):
            await read_all(https, secure.url("/a.jpg"))


MEDIUM = random.Random(11).randbytes(48 * 1024)
"""A body of three TLS records, below ``HANDOFF``: read in the loop."""


class TestTLSInTheLoop:
    """Bodies read in the event loop: ``TLSLayer`` decrypts the records that are there."""

    @pytest.fixture
    async def secure(self, ca: trustme.CA) -> AsyncIterator[Misbehaving]:
        server = await Misbehaving.start(ssl_context=serving(ca, "127.0.0.1"))
        yield server
        await server.aclose()

    async def test_records_already_received_come_up_in_one_piece(
        self, secure: Misbehaving, ca: trustme.CA
    ) -> None:
        """An answer sent in one write goes to the parser as one piece, not one per record
        (16 KiB): a small file is one body chunk, one write and one hash update."""
        secure.route("/a.jpg", answer(ok(MEDIUM)))
        async with LeanTransport(ssl=trusting(ca), handoff_min=None) as http:
            with anyio.fail_after(10):
                async with http.get(secure.url("/a.jpg")) as resp:
                    first = await resp.read()
                    body = b"".join(first) + await body_of(resp)
        assert MEDIUM == body
        assert max(map(len, first)) > 16 * 1024

    async def test_a_broken_record_after_good_ones_cuts_the_body(self, ca: trustme.CA) -> None:
        """Records that decrypt, then one that does not (its tag altered), all in one
        segment: what decrypted goes up, then the body is cut; never a complete answer."""
        server = await _TamperingServer.start(serving(ca, "127.0.0.1"), ok(MEDIUM))
        try:
            async with LeanTransport(ssl=trusting(ca), handoff_min=None) as http:
                with anyio.fail_after(10), pytest.raises(StorageBodyCut) as cut:
                    async with http.get(server.url) as resp:
                        await body_of(resp)
        finally:
            await server.aclose()
        assert server.answered == 1
        assert "BAD_RECORD_MAC" in str(cut.value)  # the TLS failure, named


class _TamperingServer:
    """TLS done by hand on the server side (an ``SSLObject``), so that the ciphertext of
    an answer can be altered before it is sent: the last record's tag gets one bit
    flipped, and the whole answer goes out in one write."""

    def __init__(self, context: ssl.SSLContext, raw: bytes) -> None:
        self.context = context
        self.raw = raw
        self.answered = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    @classmethod
    async def start(cls, context: ssl.SSLContext, raw: bytes) -> _TamperingServer:
        self = cls(context, raw)
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/a.jpg"
        return self

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    writer.write(outgoing.read())
                    if not await _more(reader, incoming):
                        return
            writer.write(outgoing.read())
            head = b""
            while b"\r\n\r\n" not in head:
                try:
                    head += tls.read(65536)
                except ssl.SSLWantReadError:
                    if not await _more(reader, incoming):
                        return
            tls.write(self.raw)
            cipher = bytearray(outgoing.read())
            cipher[-1] ^= 0x01  # the last byte of the last record: its authentication tag
            writer.write(bytes(cipher))
            await writer.drain()
            self.answered += 1
            await reader.read()  # until the client gives up on the connection
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()


async def _more(reader: asyncio.StreamReader, incoming: ssl.MemoryBIO) -> bool:
    data = await reader.read(65536)
    incoming.write(data)
    return bool(data)


async def read_all(http: LeanTransport, url: str) -> bytes:
    """The body of ``url``, through a pipe when it is handed off, else in the loop."""
    async with http.get(url) as resp:
        pipe = await resp.handoff(0)
        return await body_of(resp) if pipe is None else await read_pipe(pipe)


class TestNginxOverTLS:
    async def test_large_files_are_piped_and_the_session_kept(self, tmp_path: Path) -> None:
        """Real nginx over TLS: 2 MiB bodies piped in the session, all on one connection."""
        require_binary("nginx")
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        bodies = [random.Random(i).randbytes(2 << 20) for i in range(4)]
        expires = time.time() + 3600
        async with (
            NginxStorage(certfile=cert, keyfile=key, access_log=True) as storage,
            LeanTransport(ssl=trusting(ca), handoff_min=HANDOFF) as http,
        ):
            for i, body in enumerate(bodies):
                await storage.put(f"p/{i}.jpg", body, "image/jpeg")
            with anyio.fail_after(20):
                for _ in range(2):
                    for i, body in enumerate(bodies):
                        url = storage.signed_url(f"p/{i}.jpg", expires)
                        assert body == await piped(http, url)
            assert 1 == http.connections_made
            assert 8 == len(await storage.logged_requests())
