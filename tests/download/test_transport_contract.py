"""The storage transport contract, run against both transports: lean and aiohttp.

Every case is storage misbehaving in a way real storage (or what sits in front of it) does,
served byte for byte by ``misbehaving.Misbehaving``, and archived with ``archive()``. For
each, the disk, the manifest and the report must agree: never a file with wrong bytes under
a final name, never a success for a wrong answer, never a temp file left behind.
"""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import trustme
from archive_helpers import files_under, serving, trusting
from misbehaving import (
    Misbehaving,
    answer,
    answer_then_close,
    answer_then_reset,
    by_attempt,
    chunked,
    drip,
    ok,
    ranged,
    silent,
)
from transport_helpers import MakeTransport, assert_stored, photo, reasons, run

from visiono_async import RetryPolicy
from visiono_async.download import FetchSettings
from visiono_async.testing import sample_jpeg

pytestmark = pytest.mark.anyio

GOOD = sample_jpeg(40_000, seed=21)
OTHER = sample_jpeg(30_000, seed=22)  # a different photo: never to be stored as GOOD
LARGE = sample_jpeg(600_000, seed=23)  # above the lean transport's hand-off threshold
FAST = {"backoff": 0.01, "max_attempts": 2}
ONCE = RetryPolicy(max_retries=0)


@pytest.fixture
async def server() -> AsyncIterator[Misbehaving]:
    """The misbehaving storage server."""
    server = await Misbehaving.start()
    yield server
    await server.aclose()


@pytest.fixture
async def other() -> AsyncIterator[Misbehaving]:
    """A second server: another origin (same host, another port)."""
    server = await Misbehaving.start()
    yield server
    await server.aclose()


class TestBasics:
    async def test_keep_alive_connections_are_reused(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """Three files one after the other: one connection carries them all."""
        for name, body in {"a": GOOD, "b": OTHER, "c": GOOD[:1000] + GOOD}.items():
            server.route(f"/{name}.jpg", answer(ok(body)))
        files = [photo(server.url(f"/{n}.jpg"), n) for n in "abc"]
        report = await run(transport(), dest, *files)
        assert (3, []) == (report.downloaded, report.failed)
        assert 1 == server.connections
        await assert_stored(dest, {"a.jpg": GOOD, "b.jpg": OTHER, "c.jpg": GOOD[:1000] + GOOD})

    async def test_a_cut_body_resumes_with_range(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """Half a body, then a close: the retry asks for the rest with Range."""
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(LARGE)}\r\n\r\n".encode()
        server.route(
            "/a.jpg",
            by_attempt(answer_then_close(head + LARGE[: len(LARGE) // 2]), ranged(LARGE)),
        )
        report = await run(
            transport(), dest, photo(server.url("/a.jpg")), chunk_size=64 * 1024, **FAST
        )
        assert (1, []) == (report.downloaded, report.failed)
        assert (server.requests[1].headers.get("range") or "").startswith("bytes=")
        await assert_stored(dest, {"a.jpg": LARGE})

    @pytest.mark.parametrize(
        ("status", "reason"),
        [("404 Not Found", "http_404"), ("403 Forbidden", "http_403"), ("410 Gone", "expired_url")],
    )
    async def test_error_statuses_fail_the_file(
        self, transport: MakeTransport, server: Misbehaving, dest: Path, status: str, reason: str
    ) -> None:
        """404 fails at once; 403 and 410 after refreshing the URL does not help."""
        server.route("/a.jpg", answer(ok(b"<Error>denied</Error>", status=status)))
        report = await run(transport(), dest, photo(server.url("/a.jpg")), **FAST, refresh_margin=0)
        assert [reason] == reasons(report)
        await assert_stored(dest, {})

    async def test_headers_then_silence_times_out(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A head, a few bytes, then nothing: the per-read timeout fails the attempt."""

        async def stall(ex: Any) -> None:
            await ex.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(GOOD)}\r\n\r\n".encode())
            await ex.send(GOOD[:100])
            await ex.silence()

        server.route("/a.jpg", stall)
        report = await run(transport(read_timeout=0.3), dest, photo(server.url("/a.jpg")), **FAST)
        assert ["body_cut"] == reasons(report) or ["connection_error"] == reasons(report)
        await assert_stored(dest, {})

    async def test_a_refused_connection_is_retried_then_fails(
        self, transport: MakeTransport, dest: Path
    ) -> None:
        """Nobody listening: connection_error after max_attempts, nothing stored."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/a.jpg"
            report = await run(transport(), dest, photo(url), **FAST)
        assert ["connection_error"] == reasons(report)
        await assert_stored(dest, {})

    async def test_a_silent_server_times_out(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """No answer at all: a connection error after the read timeout, nothing stored."""
        server.route("/a.jpg", silent())
        report = await run(transport(read_timeout=0.3), dest, photo(server.url("/a.jpg")), **FAST)
        assert ["connection_error"] == reasons(report)
        assert 2 == len(server.requests)
        await assert_stored(dest, {})


class TestFraming:
    async def test_an_answer_after_the_answer_is_not_part_of_it(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A 503 and a 200 in one segment: the 503 is the answer, the 200 never counts."""
        server.route(
            "/a.jpg",
            by_attempt(
                answer(ok(b"", status="503 Slow Down") + ok(OTHER)),
                answer(ok(GOOD)),
            ),
        )
        report = await run(transport(), dest, photo(server.url("/a.jpg")), **FAST)
        assert (1, []) == (report.downloaded, report.failed)
        assert 2 == server.connections  # the connection with extra bytes was not reused
        await assert_stored(dest, {"a.jpg": GOOD})

    async def test_bytes_after_a_large_body_end_the_connection(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """An answer past a large body's Content-Length is not the next file's answer."""
        server.route("/big.jpg", answer(ok(LARGE) + ok(OTHER)))
        server.route("/b.jpg", answer(ok(GOOD)))
        files = [photo(server.url("/big.jpg"), "big"), photo(server.url("/b.jpg"), "b")]
        report = await run(transport(), dest, *files, **FAST)
        assert (2, []) == (report.downloaded, report.failed)
        assert 2 == server.connections
        await assert_stored(dest, {"big.jpg": LARGE, "b.jpg": GOOD})

    async def test_a_body_longer_than_content_length_is_cut_at_it(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """Junk past Content-Length: never part of the body, and the connection ends.

        The lean transport keeps the answer its framing delimits; aiohttp's parser rejects
        the whole segment (a connection error). Either way no junk is ever stored.
        """
        server.route("/a.jpg", answer(ok(GOOD) + b"JUNK" * 100))
        server.route("/b.jpg", answer(ok(OTHER)))
        files = [photo(server.url("/a.jpg"), "a"), photo(server.url("/b.jpg"), "b")]
        report = await run(transport(), dest, *files, **FAST)
        stored = files_under(dest)
        assert "b.jpg" in stored
        assert stored.get("a.jpg", GOOD) == GOOD
        assert reasons(report) in ([], ["connection_error"])
        assert 1 + len(server.requests) - 1 == server.connections  # no connection reused
        await assert_stored(dest, stored)

    async def test_a_body_shorter_than_content_length_is_never_stored(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """Fewer bytes than announced, then a close, every time: failed, nothing stored."""
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(GOOD) + 10}\r\n\r\n".encode()
        server.route("/a.jpg", answer_then_close(head + GOOD))
        report = await run(transport(), dest, photo(server.url("/a.jpg")), **FAST)
        assert ["body_cut"] == reasons(report)
        await assert_stored(dest, {})

    async def test_a_reset_mid_body_is_retried(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A TCP reset in the middle of the body, then a good answer: stored whole."""
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(LARGE)}\r\n\r\n".encode()
        server.route(
            "/a.jpg", by_attempt(answer_then_reset(head + LARGE[:300_000]), answer(ok(LARGE)))
        )
        report = await run(transport(), dest, photo(server.url("/a.jpg")), **FAST)
        assert (1, []) == (report.downloaded, report.failed)
        await assert_stored(dest, {"a.jpg": LARGE})

    async def test_interim_answers_are_skipped(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """100 Continue and 103 Early Hints before the answer: the 200 is the answer."""
        interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        server.route("/a.jpg", answer(interim + ok(GOOD)))
        report = await run(transport(), dest, photo(server.url("/a.jpg")))
        assert (1, []) == (report.downloaded, report.failed)
        await assert_stored(dest, {"a.jpg": GOOD})

    async def test_chunked_with_trailers(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A chunked body with a trailer: the body is the chunks, the connection is reused."""
        server.route("/a.jpg", answer(chunked(GOOD, trailers="X-Checksum: abc\r\n")))
        server.route("/b.jpg", answer(ok(OTHER)))
        files = [photo(server.url("/a.jpg"), "a"), photo(server.url("/b.jpg"), "b")]
        report = await run(transport(), dest, *files)
        assert (2, []) == (report.downloaded, report.failed)
        assert 1 == server.connections
        await assert_stored(dest, {"a.jpg": GOOD, "b.jpg": OTHER})

    async def test_an_http_1_0_body_ends_with_the_connection(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """HTTP/1.0 without Content-Length: the body runs to the close; no reuse."""
        server.route("/a.jpg", answer_then_close(b"HTTP/1.0 200 OK\r\n\r\n" + GOOD))
        server.route("/b.jpg", answer(ok(OTHER)))
        files = [photo(server.url("/a.jpg"), "a"), photo(server.url("/b.jpg"), "b")]
        report = await run(transport(), dest, *files)
        assert (2, []) == (report.downloaded, report.failed)
        assert 2 == server.connections
        await assert_stored(dest, {"a.jpg": GOOD, "b.jpg": OTHER})


class _Counting:
    """A temp-file opener that records the most bytes any file received."""

    def __init__(self) -> None:
        self.most = 0

    def open(self, path: str) -> BinaryIO:
        counter = self
        raw = open(path, "xb")  # noqa: SIM115 - closed by the pipeline

        class Counted:
            written = 0

            def write(self, data: bytes) -> int:
                self.written += len(data)
                counter.most = max(counter.most, self.written)
                return raw.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(raw, name)

        return Counted()  # type: ignore[return-value]


class TestDecoding:
    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_a_compressed_body_is_decoded(
        self, transport: MakeTransport, server: Misbehaving, dest: Path, encoding: str
    ) -> None:
        """Identity is asked for; gzip or deflate sent anyway is decoded."""
        body = gzip.compress(GOOD) if encoding == "gzip" else zlib.compress(GOOD)
        server.route("/a.jpg", answer(ok(body, headers=f"Content-Encoding: {encoding}\r\n")))
        report = await run(transport(), dest, photo(server.url("/a.jpg")))
        assert (1, []) == (report.downloaded, report.failed)
        assert "identity" == server.requests[0].headers["accept-encoding"]
        await assert_stored(dest, {"a.jpg": GOOD})

    async def test_a_gzip_bomb_stops_at_the_expected_size(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """64 MiB of zeros behind a JPEG head, for a 40 kB file: failed, never written past it."""
        bomb = gzip.compress(GOOD + bytes(64 << 20), compresslevel=9)
        server.route("/a.jpg", answer(ok(bomb, headers="Content-Encoding: gzip\r\n")))
        counting = _Counting()
        report = await run(
            transport(),
            dest,
            photo(server.url("/a.jpg"), size=len(GOOD)),
            settings=FetchSettings(opener=counting.open, retry=ONCE),
        )
        assert ["size_mismatch"] == reasons(report)
        assert counting.most <= len(GOOD)
        await assert_stored(dest, {})

    async def test_a_gzip_bomb_of_unknown_size_stops_at_the_cap(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """No size known: decoding stops at the transport's cap (``max_decoded``)."""
        bomb = gzip.compress(GOOD + bytes(64 << 20), compresslevel=9)
        server.route("/a.jpg", answer(ok(bomb, headers="Content-Encoding: gzip\r\n")))
        counting = _Counting()
        report = await run(
            transport(max_decoded=1 << 20),
            dest,
            photo(server.url("/a.jpg")),
            settings=FetchSettings(opener=counting.open, retry=ONCE),
        )
        assert ["decoded_too_large"] == reasons(report)
        assert counting.most <= 1 << 20
        await assert_stored(dest, {})


class TestURLs:
    async def test_a_signed_url_goes_out_byte_for_byte(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """%2F, %3D, %2B, + and ~ reach storage exactly as signed."""
        target = "/bucket/a%2Fb~c+d.jpg?X-Amz-Credential=AK%2F20240101%2Fs3&sig=ab%2Bc%3D&x=a+b~"
        server.route("/bucket/a%2Fb~c+d.jpg", answer(ok(GOOD)))
        report = await run(transport(), dest, photo(server.url(target)))
        assert (1, []) == (report.downloaded, report.failed)
        assert [target.encode()] == server.targets()

    @pytest.mark.parametrize("char", ["\t", "\x7f", "\x01", "\x1f"], ids=["tab", "del", "1", "1f"])
    async def test_control_characters_are_refused_before_sending(
        self, transport: MakeTransport, server: Misbehaving, dest: Path, char: str
    ) -> None:
        """A URL with a control character fails as bad_url; storage sees no request."""
        report = await run(transport(), dest, photo(server.url(f"/a{char}b.jpg")), **FAST)
        assert ["bad_url"] == reasons(report)
        assert 0 == server.connections

    async def test_per_file_headers_are_sent(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """RemoteFile.headers go out with every request for the file."""
        server.route("/a.jpg", answer(ok(GOOD)))
        file = photo(server.url("/a.jpg"), headers={"Authorization": "Bearer t0k", "X-Id": "7"})
        report = await run(transport(), dest, file)
        assert (1, []) == (report.downloaded, report.failed)
        assert "Bearer t0k" == server.requests[0].headers["authorization"]
        assert "7" == server.requests[0].headers["x-id"]


class TestRedirects:
    async def test_a_relative_redirect_keeps_the_range(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A resume that is redirected asks the new location for the same Range."""
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(LARGE)}\r\n\r\n".encode()
        server.route(
            "/a/x.jpg",
            by_attempt(
                answer_then_close(head + LARGE[:300_000]),
                answer(ok(b"", status="307 Temporary Redirect", headers="Location: ../b/y\r\n")),
            ),
        )
        server.route("/b/y", ranged(LARGE))
        report = await run(
            transport(), dest, photo(server.url("/a/x.jpg")), chunk_size=64 * 1024, **FAST
        )
        assert (1, []) == (report.downloaded, report.failed)
        assert b"/b/y" == server.requests[-1].target
        assert (server.requests[-1].headers.get("range") or "").startswith("bytes=")
        await assert_stored(dest, {"a.jpg": LARGE})

    async def test_endless_redirects_fail(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A redirect loop fails as too_many_redirects after max_redirects hops."""
        server.route("/loop", answer(ok(b"", status="302 Found", headers="Location: /loop\r\n")))
        report = await run(transport(max_redirects=3), dest, photo(server.url("/loop")))
        assert ["too_many_redirects"] == reasons(report)
        assert 4 == len(server.requests)

    async def test_an_ascii_location_is_taken_byte_for_byte(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A Location with %2F, %3D, + and ~ is requested exactly as written."""
        where = "/b/c%2Fd~e+f.jpg?sig=a%2Bb%3D+~"
        server.route(
            "/a.jpg", answer(ok(b"", status="302 Found", headers=f"Location: {where}\r\n"))
        )
        server.route("/b/c%2Fd~e+f.jpg", answer(ok(GOOD)))
        report = await run(transport(), dest, photo(server.url("/a.jpg")))
        assert (1, []) == (report.downloaded, report.failed)
        assert [b"/a.jpg", where.encode()] == server.targets()

    async def test_raw_utf8_in_location_is_percent_encoded_once(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """Raw UTF-8 in Location is sent percent-encoded; existing escapes stay as they are."""
        location = "/ét%C3%A9 x.jpg?n=é".encode()
        head = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: " + location + b"\r\n\r\n"
        server.route("/a.jpg", answer(head))
        server.route("/%C3%A9t%C3%A9%20x.jpg", answer(ok(GOOD)))
        report = await run(transport(), dest, photo(server.url("/a.jpg")))
        assert (1, []) == (report.downloaded, report.failed)
        assert b"/%C3%A9t%C3%A9%20x.jpg?n=%C3%A9" == server.targets()[1]

    async def test_credentials_stay_with_their_origin(
        self, transport: MakeTransport, server: Misbehaving, other: Misbehaving, dest: Path
    ) -> None:
        """To another host:port, Authorization, Cookie and per-file headers are dropped."""
        server.route(
            "/a.jpg",
            answer(ok(b"", status="302 Found", headers=f"Location: {other.url('/p.jpg')}\r\n")),
        )
        server.route("/same.jpg", answer(ok(b"", status="302 Found", headers="Location: /p\r\n")))
        server.route("/p", answer(ok(OTHER)))
        other.route("/p.jpg", answer(ok(GOOD)))
        secret = {"Authorization": "Bearer t0k", "Cookie": "s=1", "X-Token": "k"}
        files = [
            photo(server.url("/a.jpg"), "a", headers=secret),
            photo(server.url("/same.jpg"), "b", headers=secret),
        ]
        report = await run(transport(), dest, *files)
        assert (2, []) == (report.downloaded, report.failed)
        (away,) = other.requests
        assert {"authorization", "cookie", "x-token"}.isdisjoint(away.headers)
        same = server.requests[-1]
        assert b"/p" == same.target
        assert "Bearer t0k" == same.headers["authorization"]  # same origin: kept
        await assert_stored(dest, {"a.jpg": GOOD, "b.jpg": OTHER})


class TestTLS:
    @pytest.fixture
    async def secure(self, ca: trustme.CA) -> AsyncIterator[Misbehaving]:
        server = await Misbehaving.start(ssl_context=serving(ca, "127.0.0.1"))
        yield server
        await server.aclose()

    @pytest.fixture
    def transport(self, secure: Misbehaving, transport: MakeTransport) -> MakeTransport:
        """The transports close before the TLS server does, so their TLS shutdown completes
        (Python 3.10's asyncio leaves a TLS transport unclosed when its peer is gone)."""
        return transport

    async def test_https_to_http_redirect_is_refused(
        self,
        transport: MakeTransport,
        ca: trustme.CA,
        secure: Misbehaving,
        server: Misbehaving,
        dest: Path,
    ) -> None:
        """A downgrade to plain HTTP fails as insecure_redirect; the HTTP URL is never asked."""
        secure.route(
            "/a.jpg",
            answer(ok(b"", status="302 Found", headers=f"Location: {server.url('/a.jpg')}\r\n")),
        )
        server.route("/a.jpg", answer(ok(GOOD)))
        report = await run(transport(ssl=trusting(ca)), dest, photo(secure.url("/a.jpg")), **FAST)
        assert ["insecure_redirect"] == reasons(report)
        assert [] == server.requests
        await assert_stored(dest, {})

    async def test_https_to_http_redirect_when_allowed(
        self,
        transport: MakeTransport,
        ca: trustme.CA,
        secure: Misbehaving,
        server: Misbehaving,
        dest: Path,
    ) -> None:
        """allow_insecure_redirects=True follows the downgrade."""
        secure.route(
            "/a.jpg",
            answer(ok(b"", status="302 Found", headers=f"Location: {server.url('/a.jpg')}\r\n")),
        )
        server.route("/a.jpg", answer(ok(GOOD)))
        chosen = transport(ssl=trusting(ca), allow_insecure_redirects=True)
        report = await run(chosen, dest, photo(secure.url("/a.jpg")))
        assert (1, []) == (report.downloaded, report.failed)
        await assert_stored(dest, {"a.jpg": GOOD})

    async def test_an_untrusted_certificate_fails_once(
        self, transport: MakeTransport, secure: Misbehaving, dest: Path
    ) -> None:
        """A certificate nobody vouches for: tls_error naming the host, not retried."""
        secure.route("/a.jpg", answer(ok(GOOD)))
        report = await run(
            transport(ssl=trusting(trustme.CA())),
            dest,
            photo(secure.url("/a.jpg")),
            max_attempts=5,
            backoff=30,
        )
        assert ["tls_error"] == reasons(report)
        assert "127.0.0.1" in report.failed[0].message
        assert "certificate" in report.failed[0].message.lower()
        await assert_stored(dest, {})


class TestPermanentFailures:
    async def test_an_unknown_host_fails_once(self, transport: MakeTransport, dest: Path) -> None:
        """A name that does not resolve: dns_error, not retried (a retry would wait 30 s)."""
        url = "http://no-such-host.invalid/a.jpg"
        report = await run(transport(), dest, photo(url), max_attempts=5, backoff=30)
        assert ["dns_error"] == reasons(report)
        assert "no-such-host.invalid" in report.failed[0].message

    async def test_a_slow_drip_ends_at_the_file_deadline(
        self, transport: MakeTransport, server: Misbehaving, dest: Path
    ) -> None:
        """A byte every 20 ms never trips the read timeout; file_timeout ends it."""
        server.route("/a.jpg", drip(GOOD))
        report = await run(
            transport(read_timeout=5),
            dest,
            photo(server.url("/a.jpg")),
            file_timeout=0.5,
            **FAST,
        )
        assert ["timeout"] == reasons(report)
        await assert_stored(dest, {})
