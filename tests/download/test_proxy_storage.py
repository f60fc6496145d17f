"""Storage downloads through a proxy: absolute form for http, CONNECT tunnels for https.

One contract for both storage transports (``LeanTransport`` and ``AiohttpTransport``),
against real nginx storage (plain and TLS) through a real tinyproxy, whose log tells what
went through it; a recording proxy of our own demands credentials and shows where they
travelled. Then whole archive runs with the proxy taken from the environment.
"""

from __future__ import annotations

import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from archive_helpers import seed, serving, trusting

from tests.conftest import require_binary
from tests.download.test_nginx_origin import assert_archived_exactly, nginx_origin
from tests.proxy_servers import RecordingProxy, TinyProxy, free_port, header_origin, tinyproxy
from visiono_async import VisionoClient
from visiono_async._proxy import ProxySettings
from visiono_async.download import (
    AiohttpTransport,
    LeanTransport,
    RemoteFile,
    SignedURLSource,
    StorageTransport,
    archive,
)
from visiono_async.download._via_proxy import StorageProxyError
from visiono_async.testing._nginx import NginxStorage

pytestmark = [pytest.mark.nginx, pytest.mark.anyio]

PHOTO = b"\xff\xd8\xff\xe0" + random.Random(11).randbytes(400_000) + b"\xff\xd9"
IN_AN_HOUR = time.time() + 3600
SECRET = "s3cr3t-pa55"


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the machine's leaks into a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def certs(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 from the test CA, and its key, as files for nginx."""
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


@asynccontextmanager
async def nginx(
    certs: tuple[Path, Path] | None,
) -> AsyncIterator[NginxStorage]:
    """Nginx storage with one photo, over TLS when ``certs`` are given."""
    require_binary("nginx")
    tls = {"certfile": certs[0], "keyfile": certs[1]} if certs else {}
    async with NginxStorage(access_log=True, **tls) as storage:  # type: ignore[arg-type]
        await storage.put("pr_1/a.jpg", PHOTO, "image/jpeg")
        yield storage


Transport = Callable[[ProxySettings, ssl.SSLContext], AbstractAsyncContextManager[StorageTransport]]


@asynccontextmanager
async def lean(proxy: ProxySettings, context: ssl.SSLContext) -> AsyncIterator[StorageTransport]:
    async with LeanTransport(ssl=context, proxy=proxy) as http:
        yield http


@asynccontextmanager
async def via_aiohttp(
    proxy: ProxySettings, context: ssl.SSLContext
) -> AsyncIterator[StorageTransport]:
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield AiohttpTransport(session, proxy=proxy)


TRANSPORTS = pytest.mark.parametrize("transport", [lean, via_aiohttp], ids=["lean", "aiohttp"])
SCHEMES = pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])


async def fetch(storage: StorageTransport, url: str) -> tuple[int, bytes]:
    async with storage.get(url) as resp:
        got = bytearray()
        while chunks := await resp.read():
            for chunk in chunks:
                got += chunk
        return resp.status, bytes(got)


async def nginx_gets(storage: NginxStorage) -> int:
    """GETs nginx answered so far (its access log, once every line is written)."""
    return sum(1 for line in await storage.logged_requests() if line.startswith("GET "))


@pytest.fixture
def proxy_for(tmp_path: Path) -> Iterator[Callable[..., TinyProxy]]:
    """Start tinyproxy on demand (``connect_ports``), stopped at teardown."""
    running: list[Any] = []

    def start(*, connect_ports: tuple[int, ...] | None = None) -> TinyProxy:
        manager = tinyproxy(tmp_path / f"tinyproxy{len(running)}", connect_ports=connect_ports)
        running.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(running):
        manager.__exit__(None, None, None)


@TRANSPORTS
@SCHEMES
class TestThroughTinyproxy:
    async def test_the_photo_arrives_through_the_proxy(
        self,
        transport: Transport,
        tls: bool,
        certs: tuple[Path, Path],
        ca: trustme.CA,
        proxy_for: Callable[..., TinyProxy],
    ) -> None:
        """http: absolute-form GETs; https: one CONNECT tunnel, TLS to nginx inside it."""
        async with nginx(certs if tls else None) as storage:
            proxy = proxy_for(connect_ports=(storage.port,))
            url = storage.signed_url("pr_1/a.jpg", IN_AN_HOUR)
            settings = ProxySettings.create(proxy.url, trust_env=False)
            async with transport(settings, trusting(ca)) as http:
                assert (200, PHOTO) == await fetch(http, url)
                assert (200, PHOTO) == await fetch(http, url)
            assert 2 == await nginx_gets(storage)
            port = storage.port
        if tls and transport is lean:  # one tunnel, kept alive for both
            assert [("CONNECT", f"127.0.0.1:{port}")] == proxy.requests()
        elif tls:
            # aiohttp: a connection whose body came in more reads than its head is not
            # reused (it could hand bytes past the body to the next request), so a TLS
            # tunnel may carry one file only.
            tunnels = proxy.requests()
            assert 1 <= len(tunnels) <= 2
            assert {("CONNECT", f"127.0.0.1:{port}")} == set(tunnels)
        else:
            assert [("GET", url)] * 2 == proxy.requests()

    async def test_a_host_in_no_proxy_goes_direct(
        self,
        transport: Transport,
        tls: bool,
        certs: tuple[Path, Path],
        ca: trustme.CA,
        proxy_for: Callable[..., TinyProxy],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        async with nginx(certs if tls else None) as storage:
            proxy = proxy_for(connect_ports=(storage.port,))
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", f"example.org,127.0.0.1:{storage.port}")
            async with transport(ProxySettings.create(), trusting(ca)) as http:
                url = storage.signed_url("pr_1/a.jpg", IN_AN_HOUR)
                assert (200, PHOTO) == await fetch(http, url)
        assert [] == proxy.requests()

    async def test_trust_env_false_goes_direct(
        self,
        transport: Transport,
        tls: bool,
        certs: tuple[Path, Path],
        ca: trustme.CA,
        proxy_for: Callable[..., TinyProxy],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        async with nginx(certs if tls else None) as storage:
            proxy = proxy_for(connect_ports=(storage.port,))
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            settings = ProxySettings.create(trust_env=False)
            async with transport(settings, trusting(ca)) as http:
                url = storage.signed_url("pr_1/a.jpg", IN_AN_HOUR)
                assert (200, PHOTO) == await fetch(http, url)
        assert [] == proxy.requests()

    async def test_an_unreachable_proxy_is_named_and_retryable(
        self, transport: Transport, tls: bool, certs: tuple[Path, Path], ca: trustme.CA
    ) -> None:
        nobody = f"http://127.0.0.1:{free_port()}"
        async with nginx(certs if tls else None) as storage:
            settings = ProxySettings.create(nobody, trust_env=False)
            async with transport(settings, trusting(ca)) as http:
                with pytest.raises(
                    StorageProxyError, match=f"cannot connect to proxy {nobody}"
                ) as e:
                    await fetch(http, storage.signed_url("pr_1/a.jpg", IN_AN_HOUR))
            assert 0 == await nginx_gets(storage)
        assert (nobody, None, False) == (e.value.proxy, e.value.status, e.value.permanent)


@TRANSPORTS
async def test_a_refused_connect_is_a_permanent_proxy_error(
    transport: Transport,
    certs: tuple[Path, Path],
    ca: trustme.CA,
    proxy_for: Callable[..., TinyProxy],
) -> None:
    """tinyproxy refuses CONNECT to a port outside its ConnectPort list: 403."""
    async with nginx(certs) as storage:
        proxy = proxy_for(connect_ports=(1,))
        settings = ProxySettings.create(proxy.url, trust_env=False)
        async with transport(settings, trusting(ca)) as http:
            with pytest.raises(StorageProxyError) as e:
                await fetch(http, storage.signed_url("pr_1/a.jpg", IN_AN_HOUR))
        assert 0 == await nginx_gets(storage)
        port = storage.port
    assert f"proxy {proxy.url} refused CONNECT to 127.0.0.1:{port}: 403" in str(e.value)
    assert (403, True) == (e.value.status, e.value.permanent)


@TRANSPORTS
@SCHEMES
class TestProxyCredentials:
    async def test_credentials_reach_the_proxy_and_never_the_origin(
        self, transport: Transport, tls: bool, ca: trustme.CA
    ) -> None:
        ssl_server = serving(ca, "127.0.0.1") if tls else None
        async with (
            header_origin(PHOTO, ssl=ssl_server) as origin,
            RecordingProxy(credentials=f"alice:{SECRET}") as proxy,
        ):
            settings = ProxySettings.create(
                f"http://alice:{SECRET}@127.0.0.1:{proxy.port}", trust_env=False
            )
            async with transport(settings, trusting(ca)) as http:
                assert (200, PHOTO) == await fetch(http, f"{origin.base_url}/a.jpg?sig=x")
        assert 1 == len(proxy.seen)
        assert proxy.expected == proxy.seen[0].headers["proxy-authorization"]
        expected_target = f"127.0.0.1:{origin.port}" if tls else f"{origin.base_url}/a.jpg?sig=x"
        assert expected_target == proxy.seen[0].target
        assert 1 == len(origin.received)
        assert "proxy-authorization" not in origin.received[0]

    @pytest.mark.parametrize("given", [None, "alice:wrong"], ids=["none", "wrong"])
    async def test_a_407_is_a_permanent_proxy_error(
        self, transport: Transport, tls: bool, ca: trustme.CA, given: str | None
    ) -> None:
        ssl_server = serving(ca, "127.0.0.1") if tls else None
        async with (
            header_origin(PHOTO, ssl=ssl_server) as origin,
            RecordingProxy(credentials=f"alice:{SECRET}") as proxy,
        ):
            userinfo = f"{given}@" if given else ""
            settings = ProxySettings.create(
                f"http://{userinfo}127.0.0.1:{proxy.port}", trust_env=False
            )
            async with transport(settings, trusting(ca)) as http:
                with pytest.raises(StorageProxyError) as e:
                    await fetch(http, f"{origin.base_url}/a.jpg")
        assert (407, True) == (e.value.status, e.value.permanent)
        message = str(e.value)
        assert f"proxy {proxy.url} refused" in message
        assert f"127.0.0.1:{origin.port}: 407" in message
        assert ("rejected the credentials" if given else "needs credentials") in message
        assert "wrong" not in message
        assert [] == origin.received


class TestArchiveThroughAProxy:
    async def test_the_environment_sends_api_and_https_storage_through_the_proxy(
        self,
        certs: tuple[Path, Path],
        ca: trustme.CA,
        tmp_path: Path,
        proxy_for: Callable[..., TinyProxy],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """HTTP_PROXY for the (http) API, HTTPS_PROXY for the (https) storage: every photo
        arrives, through CONNECT tunnels, and every API call is in the proxy's log."""
        ca_pem = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_pem))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
        proxy = proxy_for()
        monkeypatch.setenv("https_proxy", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        storage = NginxStorage(certfile=certs[0], keyfile=certs[1], access_log=True)
        async with nginx_origin(storage, requests=2, photos_per_request=3) as origin:
            report = await archive(
                origin.client, tmp_path / "a", concurrency=2, photo_requests=origin.request_ids
            )
            await assert_archived_exactly(origin, tmp_path / "a")
            port, api_calls = storage.port, origin.emulator.count()
            api_root = origin.emulator.base_url
        assert (6, []) == (report.downloaded, report.failed)
        seen = proxy.requests()
        tunnels = [target for method, target in seen if method == "CONNECT"]
        api = [target for method, target in seen if method != "CONNECT"]
        assert 1 <= len(tunnels) <= 2  # kept alive: at most one per concurrent transfer
        assert {f"127.0.0.1:{port}"} == set(tunnels)
        assert api_calls == len(api)
        assert all(target.startswith(api_root) for target in api)

    async def test_a_refusing_proxy_fails_each_file_once_with_proxy_error(
        self,
        certs: tuple[Path, Path],
        tmp_path: Path,
        proxy_for: Callable[..., TinyProxy],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """CONNECT refused (403): ``proxy_error`` naming the proxy, one attempt per file."""
        proxy = proxy_for(connect_ports=(1,))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        storage = NginxStorage(certfile=certs[0], keyfile=certs[1], access_log=True)
        async with nginx_origin(storage, requests=1, photos_per_request=3) as origin:
            report = await archive(origin.client, tmp_path / "a", photo_requests=origin.request_ids)
            storage_gets = await nginx_gets(storage)
        assert 0 == report.downloaded
        assert ["proxy_error"] * 3 == [f.reason for f in report.failed]
        assert all(f"proxy {proxy.url} refused CONNECT" in f.message for f in report.failed)
        assert 3 == sum(1 for method, _ in proxy.requests() if method == "CONNECT")
        assert 0 == storage_gets

    async def test_an_unreachable_proxy_fails_files_after_bounded_attempts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``proxy=`` for storage, the API exempted by NO_PROXY host:port: each file is
        tried ``max_attempts`` times, then fails with ``proxy_error``."""
        nobody = f"http://127.0.0.1:{free_port()}"
        async with nginx_origin(NginxStorage(), requests=1, photos_per_request=2) as origin:
            emu = origin.emulator
            monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{emu.port}")
            async with VisionoClient(
                api_key=emu.create_api_key(), base_url=emu.base_url, rate_limit=None, proxy=nobody
            ) as client:
                assert client.session.proxy is None  # the API is in NO_PROXY
                report = await archive(
                    client,
                    tmp_path / "a",
                    photo_requests=origin.request_ids,
                    max_attempts=2,
                    backoff=0.0,
                )
        assert ["proxy_error"] * 2 == [f.reason for f in report.failed]
        for failed in report.failed:
            assert f"cannot connect to proxy {nobody}" in failed.message
            assert "(after 2 attempts)" in failed.message


class TestEveryStoragePathHonoursTheProxy:
    async def test_a_custom_source_without_a_client_uses_the_environment(
        self,
        client: Any,
        emulator: Any,
        tmp_path: Path,
        proxy_for: Callable[..., TinyProxy],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        seeded = await seed(client, emulator, 2)
        urls = await client.photo_requests.download_urls(seeded.photo_request_id)
        files = [
            RemoteFile(id=s.id, url=s.download_url, mime_type="image/jpeg")
            for s in urls.submissions
        ]
        proxy = proxy_for()
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        report = await archive(None, tmp_path / "a", source=SignedURLSource.from_files(files))
        assert 2 == report.downloaded
        assert sorted(f.url for f in files) == sorted(target for _, target in proxy.requests())

    async def test_the_callers_http_session_goes_through_the_clients_proxy(
        self, emulator: Any, api_key: str, tmp_path: Path, proxy_for: Callable[..., TinyProxy]
    ) -> None:
        """``VisionoClient(http_session=..., proxy=...)``: API calls and storage GETs alike."""
        proxy = proxy_for()
        async with (
            aiohttp.ClientSession() as http,
            VisionoClient(
                api_key=api_key,
                base_url=emulator.base_url,
                rate_limit=None,
                http_session=http,
                proxy=proxy.url,
            ) as client,
        ):
            seeded = await seed(client, emulator, 3)
            report = await archive(client, tmp_path / "a", photo_requests=[seeded.photo_request_id])
        assert 3 == report.downloaded
        targets = [target for _, target in proxy.requests()]
        assert 3 == sum(1 for t in targets if "/storage/" in t)
        assert emulator.count() == len(targets)
