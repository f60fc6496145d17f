"""Both storage transports against real servers: nginx, apache2 and Python's http.server.

The contract suite (``test_transport_contract``) serves misbehaviour byte for byte; here
real servers misbehave the way they are configured to: nginx closing every connection
after three answers or one idle second and gzipping whatever the client accepts, apache
limiting keep-alive and compressing answers nobody asked to be compressed, and HTTP/1.0
servers whose bodies end with the connection. For each, the disk, the manifest and the
report must agree: never a file with wrong bytes under a final name, never a success for
a wrong answer.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from archive_helpers import trusting
from real_servers import (
    Apache,
    Body,
    TLSFiles,
    apache,
    close_delimited_server,
    closes_when_idle,
    probe,
    python_http_server,
    tls_files,
)
from transport_helpers import MakeTransport, assert_stored, photo, reasons, run

from tests.conftest import require_binary
from visiono_async.download import RemoteFile
from visiono_async.download._transport import read_at_least
from visiono_async.testing import NginxStorage, sample_jpeg

pytestmark = [pytest.mark.anyio]
if sys.version_info < (3, 11):
    # Python 3.10's asyncio TLS wrapper warns when it is collected after the server dropped
    # the connection (keep-alive limits, idle timeouts) without aiohttp closing it first.
    # Nothing leaks (the socket underneath is closed); 3.11 rewrote that layer. Only this
    # warning is ignored, and only on 3.10.
    pytestmark.append(
        pytest.mark.filterwarnings(
            "ignore:Exception ignored in. <function _SSLProtocolTransport.__del__"
            ":pytest.PytestUnraisableExceptionWarning"
        )
    )

LARGE = sample_jpeg(600_000, seed=41)  # above the lean transport's hand-off threshold
PHOTOS = {
    f"p{i}": LARGE[: 300_000 + i] if i in (3, 7) else sample_jpeg(20_000 + 1_000 * i, seed=40 + i)
    for i in range(10)
}
"""Ten photos, more than three keep-alive answers allow on one connection; two are large."""
GOOD = PHOTOS["p0"]
ONCE = {"max_attempts": 1}  # a success must not need a retry of the pipeline's own
IN_AN_HOUR = time.time() + 3600
CONCURRENCY = pytest.mark.parametrize("concurrency", [1, 4], ids=["one-at-a-time", "four"])


def expected_files() -> dict[str, bytes]:
    return {f"{name}.jpg": body for name, body in PHOTOS.items()}


@pytest.fixture(params=["http", "https"])
def tls(request: pytest.FixtureRequest, ca: trustme.CA, tmp_path: Path) -> TLSFiles | None:
    """No TLS, or a certificate for 127.0.0.1 from the test's CA."""
    return tls_files(ca, tmp_path / "tls") if request.param == "https" else None


def request_target(url: str) -> str:
    """The path and query of ``url``, as a request line carries them."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def client_options(tls: TLSFiles | None) -> dict[str, object]:
    """Transport options that trust the test's CA when there is one."""
    return {} if tls is None else {"ssl": trusting(tls.ca)}


class TestNginx:
    """nginx as real storage misbehaves: ``keepalive_requests 3``, ``keepalive_timeout 1s``,
    gzip for every type and size."""

    @pytest.fixture
    async def nginx(
        self, tls: TLSFiles | None, transport: MakeTransport
    ) -> AsyncIterator[NginxStorage]:
        """The storage, with every photo in it (transports close before it stops)."""
        require_binary("nginx")
        storage = NginxStorage(
            keepalive_requests=3,
            keepalive_timeout=1.0,
            gzip=True,
            access_log=True,
            certfile=None if tls is None else tls.certfile,
            keyfile=None if tls is None else tls.keyfile,
        )
        async with storage:
            for name, body in PHOTOS.items():
                await storage.put(f"{name}.jpg", body, "image/jpeg")
            yield storage

    def files(self, nginx: NginxStorage) -> list[RemoteFile]:
        return [
            photo(nginx.signed_url(f"{name}.jpg", IN_AN_HOUR), name, size=len(body))
            for name, body in PHOTOS.items()
        ]

    async def test_nginx_misbehaves_as_configured(
        self, nginx: NginxStorage, tls: TLSFiles | None
    ) -> None:
        """Three answers per connection, then a close; gzip when asked; idle connections end."""
        target = request_target(nginx.signed_url("p0.jpg", IN_AN_HOUR))
        secure = tls is not None
        answers = await probe(nginx.port, [target] * 4, tls=secure)
        assert [200, 200, 200] == [a.status for a in answers]
        assert "close" == answers[-1].headers.get("connection")
        (zipped,) = await probe(
            nginx.port, [target], headers={"Accept-Encoding": "gzip"}, tls=secure
        )
        assert "gzip" == zipped.headers.get("content-encoding")
        await closes_when_idle(nginx.port, target, tls=secure)

    @CONCURRENCY
    async def test_more_files_than_one_connection_allows(
        self,
        transport: MakeTransport,
        nginx: NginxStorage,
        tls: TLSFiles | None,
        dest: Path,
        concurrency: int,
    ) -> None:
        """Ten files over connections nginx closes after three answers: all byte-exact, each
        asked for once, sent uncompressed (identity asked for), with no pipeline retry."""
        report = await run(
            transport(**client_options(tls)),
            dest,
            *self.files(nginx),
            concurrency=concurrency,
            **ONCE,
        )
        assert (10, 0, []) == (report.downloaded, report.skipped, report.failed)
        assert sum(map(len, PHOTOS.values())) == report.bytes
        await assert_stored(dest, expected_files())
        # nginx logs the body bytes it sent: the stored size, so nothing was gzipped.
        assert sorted(
            f"GET /{name}.jpg 200 {len(body)}" for name, body in PHOTOS.items()
        ) == sorted(await nginx.logged_requests())

    async def test_a_connection_nginx_closed_when_idle_is_replaced(
        self, transport: MakeTransport, nginx: NginxStorage, tls: TLSFiles | None, dest: Path
    ) -> None:
        """The pooled connection nginx closed after a second idle is not used for the next
        file: a new connection, no failure, no pipeline retry."""
        chosen = transport(**client_options(tls))
        first, second = self.files(nginx)[:2]
        report = await run(chosen, dest, first, **ONCE)
        assert (1, []) == (report.downloaded, report.failed)
        # A connection opened after the transport's went idle; once nginx closed it for
        # idleness, it has closed the transport's (idle for longer) too.
        target = request_target(nginx.signed_url("p9.jpg", IN_AN_HOUR))
        await closes_when_idle(nginx.port, target, tls=tls is not None)
        report = await run(chosen, dest, second, **ONCE)
        assert (1, []) == (report.downloaded, report.failed)
        await assert_stored(dest, {"p0.jpg": PHOTOS["p0"], "p1.jpg": PHOTOS["p1"]})


class TestNginxOptions:
    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"keepalive_requests": 0}, "keepalive_requests must be at least 1"),
            ({"keepalive_timeout": -1}, "keepalive_timeout must not be negative"),
        ],
        ids=["no-requests", "negative-timeout"],
    )
    def test_impossible_keep_alive_limits_are_refused(
        self, options: dict[str, float], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            NginxStorage(**options)  # type: ignore[arg-type]


class TestApache:
    """apache2 with ``MaxKeepAliveRequests 3``: keep-alive, Range, TLS (mod_ssl)."""

    @pytest.fixture
    async def server(
        self, tmp_path: Path, tls: TLSFiles | None, transport: MakeTransport
    ) -> AsyncIterator[Apache]:
        async with apache(tmp_path, tls=tls) as server:
            for name, body in PHOTOS.items():
                server.put(f"{name}.jpg", body)
            yield server

    async def test_apache_closes_after_four_answers(
        self, server: Apache, tls: TLSFiles | None
    ) -> None:
        """The limit is live. apache counts the requests kept alive after the first, so
        ``MaxKeepAliveRequests 3`` is four answers; a fifth request gets none."""
        answers = await probe(server.port, ["/p0.jpg"] * 6, tls=tls is not None)
        assert [(200, len(GOOD))] * 4 == [(a.status, len(a.body)) for a in answers]

    @CONCURRENCY
    async def test_more_files_than_one_connection_allows(
        self,
        transport: MakeTransport,
        server: Apache,
        tls: TLSFiles | None,
        dest: Path,
        concurrency: int,
    ) -> None:
        """Ten files, four per connection: all byte-exact, no pipeline retry."""
        files = [photo(server.url(f"{n}.jpg"), n, size=len(b)) for n, b in PHOTOS.items()]
        report = await run(
            transport(**client_options(tls)), dest, *files, concurrency=concurrency, **ONCE
        )
        assert (10, []) == (report.downloaded, report.failed)
        await assert_stored(dest, expected_files())

    async def test_a_range_request_gets_the_rest(
        self, transport: MakeTransport, server: Apache, tls: TLSFiles | None
    ) -> None:
        """``Range: bytes=N-`` (a resume's request): 206 and exactly the bytes from N on."""
        chosen = transport(**client_options(tls))
        async with chosen.get(server.url("p3.jpg"), {"Range": "bytes=1000-"}) as resp:
            assert 206 == resp.status
            total = len(PHOTOS["p3"])
            assert f"bytes 1000-{total - 1}/{total}" == resp.headers.get("content-range")
            assert PHOTOS["p3"][1000:] == await read_at_least(resp, total)


class TestApacheDeflate:
    """apache2 with ``SetOutputFilter DEFLATE`` and ``force-gzip``: every answer gzipped,
    though the transports ask for identity."""

    @pytest.fixture
    async def server(self, tmp_path: Path, transport: MakeTransport) -> AsyncIterator[Apache]:
        async with apache(tmp_path, deflate=True) as server:
            for name, body in PHOTOS.items():
                server.put(f"{name}.jpg", body)
            yield server

    async def test_apache_gzips_what_nobody_asked_to_be_gzipped(self, server: Apache) -> None:
        """The misbehaviour is live: gzip in answer to ``Accept-Encoding: identity``."""
        (answer,) = await probe(server.port, ["/p0.jpg"], headers={"Accept-Encoding": "identity"})
        assert "gzip" == answer.headers.get("content-encoding")

    @pytest.mark.parametrize("sized", [True, False], ids=["size-known", "size-unknown"])
    async def test_a_gzipped_answer_is_stored_decoded(
        self, transport: MakeTransport, server: Apache, dest: Path, sized: bool
    ) -> None:
        """The bounded decoder stores the photo's own bytes, not the gzip stream."""
        files = [
            photo(server.url(f"{n}.jpg"), n, **({"size": len(b)} if sized else {}))
            for n, b in PHOTOS.items()
        ]
        report = await run(transport(), dest, *files, concurrency=4, **ONCE)
        assert (10, []) == (report.downloaded, report.failed)
        await assert_stored(dest, expected_files())

    async def test_a_range_is_answered_with_the_whole_photo(
        self, transport: MakeTransport, server: Apache
    ) -> None:
        """apache will not range a body it compresses on the fly: a resume's ``Range`` gets
        200 and the whole photo, decoded (the pipeline then starts the file over)."""
        chosen = transport()
        async with chosen.get(server.url("p3.jpg"), {"Range": "bytes=1000-"}) as resp:
            assert (200, "gzip") == (resp.status, resp.headers.get("content-encoding"))
            assert None is resp.headers.get("content-range")
            assert PHOTOS["p3"] == await read_at_least(resp, 1 << 24)

    async def test_a_gzip_bomb_stops_at_the_expected_size(
        self, transport: MakeTransport, server: Apache, dest: Path
    ) -> None:
        """A file larger than its source announced, gzipped: size_mismatch, nothing stored."""
        server.put("big.jpg", GOOD + bytes(8 << 20))
        report = await run(transport(), dest, photo(server.url("big.jpg"), "big", size=len(GOOD)))
        assert ["size_mismatch"] == reasons(report)
        await assert_stored(dest, {})


class TestPythonHTTPServer:
    """``python -m http.server --protocol HTTP/1.0``: one answer per connection."""

    @pytest.fixture
    async def port(self, tmp_path: Path, transport: MakeTransport) -> AsyncIterator[int]:
        folder = tmp_path / "served"
        folder.mkdir()
        for name, body in PHOTOS.items():
            (folder / f"{name}.jpg").write_bytes(body)
        async with python_http_server(folder) as port:
            yield port

    @CONCURRENCY
    async def test_every_file_on_a_connection_of_its_own(
        self, transport: MakeTransport, port: int, dest: Path, concurrency: int
    ) -> None:
        """HTTP/1.0, no keep-alive: ten connections, ten byte-exact files, no retry."""
        files = [
            photo(f"http://127.0.0.1:{port}/{n}.jpg", n, size=len(b)) for n, b in PHOTOS.items()
        ]
        report = await run(transport(), dest, *files, concurrency=concurrency, **ONCE)
        assert (10, []) == (report.downloaded, report.failed)
        await assert_stored(dest, expected_files())


VERSIONS = pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])


class TestCloseDelimited:
    """A server of our own that sends bodies without Content-Length: each ends with its
    connection (HTTP/1.0, or HTTP/1.1 with ``Connection: close``)."""

    @VERSIONS
    async def test_close_delimited_bodies_are_stored_whole(
        self, transport: MakeTransport, dest: Path, version: str
    ) -> None:
        """Small and large bodies, one connection each: byte-exact, no retry."""
        bodies = {f"/{n}.jpg": Body(b, version) for n, b in PHOTOS.items()}
        with close_delimited_server(bodies) as port:
            files = [photo(f"http://127.0.0.1:{port}/{n}.jpg", n) for n in PHOTOS]
            report = await run(transport(), dest, *files, concurrency=4, **ONCE)
        assert (10, []) == (report.downloaded, report.failed)
        await assert_stored(dest, expected_files())

    @VERSIONS
    @pytest.mark.parametrize("body", [GOOD, LARGE], ids=["small", "large"])
    async def test_a_cut_body_of_announced_size_fails_size_mismatch(
        self, transport: MakeTransport, dest: Path, version: str, body: bytes
    ) -> None:
        """Cut short, the body looks complete (no length to miss); the size the source
        announced catches it: size_mismatch on every attempt, nothing stored. (Without a
        size it would be stored as sent: HTTP gives no way to tell.)"""
        with close_delimited_server({"/a.jpg": Body(body[: len(body) // 2], version)}) as port:
            file = photo(f"http://127.0.0.1:{port}/a.jpg", size=len(body))
            report = await run(transport(), dest, file, max_attempts=2, backoff=0.01)
        assert ["size_mismatch"] == reasons(report)
        assert 0 == report.downloaded
        await assert_stored(dest, {})


def test_photos_are_distinct() -> None:
    """Every photo differs, so a mix-up between files cannot pass for a success."""
    assert len(PHOTOS) == len(set(PHOTOS.values()))
