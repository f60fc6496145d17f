"""NginxStorage: a real nginx serving photos behind secure_link signed, expiring URLs."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from tests.conftest import IN_CI, require_binary
from visiono_async.testing._nginx import NginxStorage, NginxStorageError

# anyio explicitly: the conftest adds it after collection, which drops parametrize ids.
pytestmark = [pytest.mark.nginx, pytest.mark.anyio]

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
IN_AN_HOUR = time.time() + 3600


@pytest.fixture
async def storage() -> AsyncIterator[NginxStorage]:
    """A running NginxStorage with an access log."""
    require_binary("nginx")
    async with NginxStorage(access_log=True) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session that neither decompresses nor follows anything for us."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


def with_query(url: str, **changes: str) -> str:
    """``url`` with some query parameters replaced (or removed when the value is empty)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    query = {k: v for k, v in query.items() if v}
    return urlunsplit(parts._replace(query=urlencode(query)))


class TestServe:
    async def test_serves_the_stored_bytes_with_their_type(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """A signed URL returns the content, its length and the mime type given to put."""
        await storage.put("pr_1/item_1_sub_1.jpg", JPEG, "image/jpeg")

        async with http.get(storage.signed_url("pr_1/item_1_sub_1.jpg", IN_AN_HOUR)) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert body == JPEG
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert str(len(JPEG)) == resp.headers["Content-Length"]
        assert resp.headers["Accept-Ranges"] == "bytes"

    async def test_the_url_points_at_nginx_on_loopback(self, storage: NginxStorage) -> None:
        """URLs carry md5 and expires (whole seconds, rounded up) for the key's path."""
        url = urlsplit(storage.signed_url("a/b.png", 1_900_000_000.2))

        assert f"127.0.0.1:{storage.port}" == url.netloc
        assert url.path == "/a/b.png"
        assert parse_qs(url.query)["expires"] == ["1900000001"]
        assert len(parse_qs(url.query)["md5"][0]) == 22

    @pytest.mark.parametrize(
        ("key", "mime_type"),
        [
            ("p/photo.png", "image/png"),
            ("p/photo.HEIC", "image/heic"),
            ("p/error.jpg", "application/json"),
            ("p/page.jpg", "text/html"),
            ("p/no-extension", "image/webp"),
            ("p/no-extension-bytes", "application/octet-stream"),
        ],
        ids=["png", "upper-case-extension", "json-under-jpg", "html-under-jpg", "no-ext", "bin"],
    )
    async def test_content_type_follows_put_not_the_extension(
        self, storage: NginxStorage, http: aiohttp.ClientSession, key: str, mime_type: str
    ) -> None:
        """The Content-Type is the mime type given to put, whatever the key's extension."""
        await storage.put(key, b"content", mime_type)

        async with http.get(storage.signed_url(key, IN_AN_HOUR)) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert mime_type == resp.headers["Content-Type"]
        assert body == b"content"

    async def test_put_again_replaces_content_and_type(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """A second put of a key replaces the bytes and the type, leaving one file behind."""
        await storage.put("p/x.jpg", b'{"error": "nope"}', "application/json")
        await storage.put("p/x.jpg", JPEG, "image/jpeg")

        async with http.get(storage.signed_url("p/x.jpg", IN_AN_HOUR)) as resp:
            body = await resp.read()

        assert (body, resp.headers["Content-Type"]) == (JPEG, "image/jpeg")
        assert sorted(p.name for p in (storage.root / "p").iterdir()) == ["x.jpg"]

    @pytest.mark.parametrize(
        "key",
        ["p/with space.jpg", "p/100%.jpg", "p/plus+and&amp?.jpg", "p/ünïcødé-写真.jpg"],
        ids=["space", "percent", "query-chars", "non-ascii"],
    )
    async def test_keys_needing_percent_encoding_are_signed_as_nginx_decodes_them(
        self, storage: NginxStorage, http: aiohttp.ClientSession, key: str
    ) -> None:
        """nginx signs the decoded $uri; the URL is percent-encoded to match."""
        await storage.put(key, JPEG, "image/jpeg")

        async with http.get(storage.signed_url(key, IN_AN_HOUR)) as resp:
            body = await resp.read()

        assert (resp.status, body) == (200, JPEG)

    async def test_a_missing_key_is_404(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """A correctly signed URL for a key never stored answers 404."""
        async with http.get(storage.signed_url("p/missing.jpg", IN_AN_HOUR)) as resp:
            assert resp.status == 404

    async def test_files_live_under_root_by_key(self, storage: NginxStorage) -> None:
        """put writes the key's path inside nginx's document root, readable by its workers."""
        await storage.put("pr_9/a.jpg", JPEG, "image/jpeg")

        assert (storage.root / "pr_9" / "a.jpg").read_bytes() == JPEG


class TestRange:
    @pytest.mark.parametrize(
        ("range_header", "expected_slice", "content_range"),
        [
            ("bytes=0-99", slice(0, 100), f"bytes 0-99/{len(JPEG)}"),
            ("bytes=100-", slice(100, None), f"bytes 100-{len(JPEG) - 1}/{len(JPEG)}"),
            ("bytes=-10", slice(-10, None), f"bytes {len(JPEG) - 10}-{len(JPEG) - 1}/{len(JPEG)}"),
        ],
        ids=["first-100", "resume-from-100", "last-10"],
    )
    async def test_range_returns_206_with_the_slice(
        self,
        storage: NginxStorage,
        http: aiohttp.ClientSession,
        range_header: str,
        expected_slice: slice,
        content_range: str,
    ) -> None:
        """A Range request answers 206 with Content-Range and exactly those bytes."""
        await storage.put("p/r.jpg", JPEG, "image/jpeg")
        url = storage.signed_url("p/r.jpg", IN_AN_HOUR)

        async with http.get(url, headers={"Range": range_header}) as resp:
            body = await resp.read()

        assert resp.status == 206
        assert content_range == resp.headers["Content-Range"]
        assert JPEG[expected_slice] == body

    async def test_range_beyond_the_end_is_416(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """A range starting past the last byte is not satisfiable."""
        await storage.put("p/r.jpg", JPEG, "image/jpeg")
        url = storage.signed_url("p/r.jpg", IN_AN_HOUR)

        async with http.get(url, headers={"Range": f"bytes={len(JPEG)}-"}) as resp:
            assert resp.status == 416


class TestHead:
    async def test_head_gives_headers_without_a_body(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """HEAD answers the length and type of the photo and no body."""
        await storage.put("p/h.jpg", JPEG, "image/jpeg")

        async with http.head(storage.signed_url("p/h.jpg", IN_AN_HOUR)) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert str(len(JPEG)) == resp.headers["Content-Length"]
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert body == b""


class TestSignatures:
    async def test_an_expired_url_is_410(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """nginx uses the real clock: a URL signed with an expiry in the past answers 410."""
        await storage.put("p/e.jpg", JPEG, "image/jpeg")

        async with http.get(storage.signed_url("p/e.jpg", time.time() - 5)) as resp:
            assert resp.status == 410

    @pytest.mark.parametrize(
        "tamper",
        [
            pytest.param(lambda url: with_query(url, md5="A" * 22), id="wrong-md5"),
            pytest.param(lambda url: with_query(url, md5=""), id="no-md5"),
            pytest.param(lambda url: with_query(url, expires="4102444800"), id="later-expiry"),
            pytest.param(lambda url: with_query(url, expires=""), id="no-expiry"),
            pytest.param(lambda url: url.replace("/p/t.jpg", "/p/other.jpg"), id="other-key"),
        ],
    )
    async def test_a_tampered_url_is_403(
        self, storage: NginxStorage, http: aiohttp.ClientSession, tamper: object
    ) -> None:
        """Any change to the path, signature or expiry answers 403 and serves nothing."""
        await storage.put("p/t.jpg", JPEG, "image/jpeg")
        await storage.put("p/other.jpg", JPEG, "image/jpeg")
        url = tamper(storage.signed_url("p/t.jpg", IN_AN_HOUR))  # type: ignore[operator]

        async with http.get(url) as resp:
            body = await resp.read()

        assert resp.status == 403
        assert JPEG not in body

    async def test_a_url_from_another_secret_is_403(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """Storage instances with different secrets do not accept each other's URLs."""
        await storage.put("p/s.jpg", JPEG, "image/jpeg")
        forger = NginxStorage(secret="x" * 32)
        forger._port = storage.port  # sign only; this instance never starts nginx

        async with http.get(forger.signed_url("p/s.jpg", IN_AN_HOUR)) as resp:
            assert resp.status == 403

    async def test_the_access_log_records_each_request(
        self, storage: NginxStorage, http: aiohttp.ClientSession
    ) -> None:
        """With access_log=True every request is one line: method, path, status, bytes."""
        await storage.put("p/l.jpg", JPEG, "image/jpeg")
        async with http.get(storage.signed_url("p/l.jpg", IN_AN_HOUR)) as resp:
            await resp.read()
        async with http.get(storage.signed_url("p/l.jpg", time.time() - 5)) as resp:
            await resp.read()

        lines = await storage.logged_requests()
        assert 2 == len(lines)
        assert f"GET /p/l.jpg 200 {len(JPEG)}" == lines[0]
        assert lines[1].startswith("GET /p/l.jpg 410 ")
        assert storage.access_log_path is not None
        assert 3 == len(storage.access_log_path.read_text().splitlines())  # and the marker

    async def test_logged_requests_needs_the_access_log(self) -> None:
        """Without ``access_log=True`` there is nothing to wait for: a clear error."""
        require_binary("nginx")
        async with NginxStorage() as plain:
            with pytest.raises(RuntimeError, match="access_log=True"):
                await plain.logged_requests()


class TestKeysAndTypes:
    @pytest.mark.parametrize(
        "key",
        ["", "/abs.jpg", "a/../b.jpg", "..", "a//b.jpg", "a/./b.jpg", "a\\b.jpg", "a\x00b.jpg"],
        ids=["empty", "absolute", "dotdot", "only-dotdot", "empty-segment", "dot", "bslash", "nul"],
    )
    async def test_unsafe_keys_are_refused(self, storage: NginxStorage, key: str) -> None:
        """Nothing is ever written outside the document root."""
        with pytest.raises(ValueError, match="unsafe storage key"):
            await storage.put(key, JPEG, "image/jpeg")
        with pytest.raises(ValueError, match="unsafe storage key"):
            storage.signed_url(key, IN_AN_HOUR)

    async def test_an_unknown_mime_type_is_refused(self, storage: NginxStorage) -> None:
        """nginx's types are fixed at start, so a type it cannot send is an error, not a lie."""
        with pytest.raises(ValueError, match="cannot serve mime type 'image/x-made-up'"):
            await storage.put("p/a.jpg", JPEG, "image/x-made-up")


class TestLifecycle:
    async def test_aclose_stops_nginx_and_removes_its_directory(self) -> None:
        """After aclose the port is closed and the temp directory is gone; aclose is idempotent."""
        require_binary("nginx")
        storage = NginxStorage()
        await storage.start()
        directory = storage.root.parent
        port = storage.port

        await storage.aclose()
        await storage.aclose()

        assert not directory.exists()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        with pytest.raises(RuntimeError, match="call start"):
            storage.signed_url("a.jpg", IN_AN_HOUR)

    async def test_start_twice_is_an_error(self, storage: NginxStorage) -> None:
        """A running storage refuses a second start."""
        with pytest.raises(RuntimeError, match="already running"):
            await storage.start()

    async def test_a_missing_binary_is_a_clear_error(self, tmp_path: Path) -> None:
        """Pointing at something that is not an executable names the problem."""
        with pytest.raises(NginxStorageError, match="not executable"):
            await NginxStorage(binary=tmp_path / "nginx").start()

    async def test_nginx_without_secure_link_is_a_clear_error(self, tmp_path: Path) -> None:
        """An nginx built without secure_link (Debian's nginx-light) is refused by name."""
        fake = tmp_path / "nginx"
        fake.write_text(
            "#!/bin/sh\necho 'nginx version: nginx/1.22.1' >&2\n"
            "echo 'configure arguments: --with-http_ssl_module' >&2\n"
        )
        fake.chmod(0o755)

        with pytest.raises(NginxStorageError, match="without the secure_link module"):
            await NginxStorage(binary=fake).start()

    async def test_a_failed_start_quotes_nginx_and_cleans_up(self) -> None:
        """If nginx cannot listen, start raises with its error log and leaves nothing behind."""
        require_binary("nginx")
        async with NginxStorage() as first:
            second = NginxStorage(port=first.port)
            with pytest.raises(NginxStorageError, match="Address already in use"):
                await second.start()
            assert "stopped" in repr(second)

    async def test_repr_shows_no_secret(self) -> None:
        """The signing secret never appears in the repr."""
        secret = "s" * 40
        require_binary("nginx")
        async with NginxStorage(secret=secret) as storage:
            assert secret not in repr(storage)
            assert storage.base_url in repr(storage)


class TestResponseDelay:
    async def test_each_response_waits_at_least_the_delay(
        self, http: aiohttp.ClientSession
    ) -> None:
        """response_delay holds every signed response back (a lower bound, never an upper one)."""
        require_binary("nginx")
        try:
            storage = NginxStorage(response_delay=0.2)
            await storage.start()
        except NginxStorageError as e:
            if IN_CI:  # .ci/run installs libnginx-mod-http-echo; missing there is a failure
                pytest.fail(str(e))
            pytest.skip(str(e))
        try:
            await storage.put("p/d.jpg", JPEG, "image/jpeg")
            url = storage.signed_url("p/d.jpg", IN_AN_HOUR)
            started = time.monotonic()
            async with http.get(url, headers={"Range": "bytes=0-9"}) as resp:
                body = await resp.read()
            elapsed = time.monotonic() - started
        finally:
            await storage.aclose()

        assert (206, JPEG[:10]) == (resp.status, body)
        assert elapsed >= 0.19
