"""Proxies for API calls: which proxy a URL gets, and calls through real proxies.

tinyproxy proves API calls go through a proxy the way curl's do (its log names every
request); a recording proxy of our own demands credentials and shows which headers went
where. The emulator and the origins listen on 127.0.0.1, which no proxy rule exempts.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from tests.proxy_servers import RecordingProxy, TinyProxy, free_port, header_origin, tinyproxy
from visiono_async import APIConnectionError, ProxyError, RetryPolicy, VisionoClient
from visiono_async._proxy import ProxySettings, ProxyURL, resolve_proxy

SECRET = "s3cr3t-pa55"


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the machine's leaks into a test."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[TinyProxy]:
    """A running tinyproxy (CONNECT refused to every port but 1)."""
    with tinyproxy(tmp_path / "tinyproxy", connect_ports=[1]) as running:
        yield running


def api_gets(proxy: TinyProxy) -> list[str]:
    return [target for method, target in proxy.requests() if method == "GET"]


class TestResolveFromTheEnvironment:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://storage.example.com/a.jpg", "http://secure-proxy:3128"),
            ("http://storage.example.com/a.jpg", "http://plain-proxy:8080"),
        ],
        ids=["https-uses-HTTPS_PROXY", "http-uses-HTTP_PROXY"],
    )
    def test_each_scheme_has_its_own_variable(
        self, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
    ) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
        monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy:8080")
        found = resolve_proxy(url)
        assert found is not None
        assert expected == found.url

    def test_the_lower_case_variable_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """As in curl and requests: ``https_proxy`` over ``HTTPS_PROXY``."""
        monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
        monkeypatch.setenv("https_proxy", "http://lower:2")
        assert "http://lower:2" == str(resolve_proxy("https://h/"))

    def test_all_proxy_fills_in_a_missing_scheme(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ALL_PROXY", "http://every:3128")
        monkeypatch.setenv("HTTP_PROXY", "http://plain:8080")
        assert "http://every:3128" == str(resolve_proxy("https://h/"))
        assert "http://plain:8080" == str(resolve_proxy("http://h/"))

    def test_nothing_set_means_direct(self) -> None:
        assert resolve_proxy("https://h/") is None

    def test_a_proxy_without_scheme_is_http(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:3128")
        assert ProxyURL("proxy.corp", 3128) == resolve_proxy("https://h/")

    def test_an_unused_unsupported_all_proxy_does_no_harm(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``ALL_PROXY=socks5://...`` for other tools is fine when both schemes have their own."""
        monkeypatch.setenv("ALL_PROXY", "socks5://localhost:1080")
        monkeypatch.setenv("HTTPS_PROXY", "http://p:1")
        monkeypatch.setenv("HTTP_PROXY", "http://p:1")
        assert "http://p:1" == str(resolve_proxy("https://h/"))

    def test_an_unsupported_proxy_that_would_be_used_is_a_clear_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HTTPS_PROXY", f"socks5://user:{SECRET}@localhost:1080")
        with pytest.raises(ValueError, match="https_proxy: unsupported proxy scheme 'socks5'") as e:
            VisionoClient(api_key="k")
        assert SECRET not in str(e.value)


class TestNoProxy:
    @pytest.mark.parametrize(
        ("no_proxy", "url", "bypassed"),
        [
            ("storage.example.com", "https://storage.example.com/a", True),
            ("example.com", "https://storage.example.com/a", True),
            (".example.com", "https://storage.example.com/a", True),
            ("example.com", "https://notexample.com/a", False),
            ("other.org, example.com", "https://example.com/a", True),
            ("*", "https://anything.net/a", True),
            ("storage.example.com:8443", "https://storage.example.com:8443/a", True),
            ("storage.example.com:8443", "https://storage.example.com/a", False),
            ("10.0.0.0/8", "http://10.1.2.3/a", True),
            ("10.0.0.0/8", "http://11.1.2.3/a", False),
            ("::1", "http://[::1]:8080/a", True),
            ("127.0.0.1", "http://127.0.0.1:8080/a", True),
            ("localhost", "http://127.0.0.1:8080/a", False),
            ("", "http://127.0.0.1:8080/a", False),
        ],
        ids=[
            "host",
            "domain-matches-subdomain",
            "leading-dot-domain",
            "domain-is-not-a-text-suffix",
            "list-with-spaces",
            "star",
            "host-and-port",
            "host-and-other-port",
            "cidr",
            "outside-cidr",
            "ipv6",
            "ipv4",
            "loopback-not-exempt-by-default",
            "empty",
        ],
    )
    def test_rules(
        self, monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, bypassed: bool
    ) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://p:3128")
        monkeypatch.setenv("HTTP_PROXY", "http://p:3128")
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert bypassed == (resolve_proxy(url) is None)

    def test_lower_case_no_proxy_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://p:3128")
        monkeypatch.setenv("NO_PROXY", "a.example")
        monkeypatch.setenv("no_proxy", "b.example")
        assert resolve_proxy("https://b.example/") is None
        assert resolve_proxy("https://a.example/") is not None


class TestExplicitOverrides:
    def test_an_explicit_proxy_wins_over_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://env:1")
        assert "http://mine:2" == str(resolve_proxy("https://h/", proxy="http://mine:2"))

    def test_no_proxy_still_applies_to_an_explicit_proxy(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As curl does with ``-x``; ``trust_env=False`` turns that off too."""
        monkeypatch.setenv("NO_PROXY", "h")
        assert resolve_proxy("https://h/", proxy="http://mine:2") is None
        assert resolve_proxy("https://h/", proxy="http://mine:2", trust_env=False) is not None

    def test_trust_env_false_ignores_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://env:1")
        monkeypatch.setenv("ALL_PROXY", "socks5://not-even-parsed:1")
        assert resolve_proxy("https://h/", trust_env=False) is None

    def test_the_client_reads_its_settings_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://env:1")
        client = VisionoClient(api_key="k", base_url="https://api.example.com/v1")
        monkeypatch.setenv("HTTPS_PROXY", "http://later:2")
        assert "http://env:1" == str(client.session.proxy)
        direct = VisionoClient(api_key="k", base_url="https://api.example.com/v1", trust_env=False)
        assert direct.session.proxy is None


class TestCredentialsStayHidden:
    def test_repr_and_str_never_show_them(self) -> None:
        proxy = ProxyURL.parse(f"http://alice:{SECRET}@proxy:3128")
        settings = ProxySettings.create(proxy, trust_env=False)
        client = VisionoClient(api_key="k", proxy=f"http://alice:{SECRET}@proxy:3128")
        for text in (repr(proxy), str(proxy), repr(settings), repr(client), repr(client.config)):
            assert SECRET not in text
            assert "alice" not in text
        assert "ProxyURL('http://proxy:3128', with credentials)" == repr(proxy)

    def test_percent_escaped_credentials_are_decoded_for_basic_auth(self) -> None:
        proxy = ProxyURL.parse("http://al%40ce:p%3Ass@proxy:3128")
        assert ("al@ce", "p:ss") == (proxy.username, proxy.password)
        assert "Basic YWxAY2U6cDpzcw==" == proxy.authorization

    def test_a_bad_proxy_url_names_its_source_not_its_secret(self) -> None:
        with pytest.raises(ValueError, match=r"proxy=: unsupported proxy scheme 'https'") as e:
            VisionoClient(api_key="k", proxy=f"https://u:{SECRET}@p:1")
        assert SECRET not in str(e.value)


class TestAPICallsThroughTinyproxy:
    async def test_the_environment_sends_api_calls_through_the_proxy(
        self, emulator: Any, api_key: str, proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """HTTP_PROXY alone (no argument): the call is in the proxy's log, in absolute form."""
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with VisionoClient(api_key=api_key, base_url=emulator.base_url) as client:
            status = await client.status()
        assert "operational" == status.status
        assert [f"{emulator.base_url}/status"] == api_gets(proxy)

    async def test_an_explicit_proxy_needs_no_environment(
        self, emulator: Any, api_key: str, proxy: TinyProxy
    ) -> None:
        async with VisionoClient(api_key=api_key, base_url=emulator.base_url, proxy=proxy.url) as c:
            await c.status()
            await c.stats()
        assert [f"{emulator.base_url}/status", f"{emulator.base_url}/stats"] == api_gets(proxy)

    @pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*"], ids=["host", "star"])
    async def test_a_host_in_no_proxy_goes_direct(
        self,
        emulator: Any,
        api_key: str,
        proxy: TinyProxy,
        monkeypatch: pytest.MonkeyPatch,
        no_proxy: str,
    ) -> None:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("no_proxy", no_proxy)
        async with VisionoClient(api_key=api_key, base_url=emulator.base_url) as client:
            await client.status()
        assert [] == proxy.requests()
        assert 1 == emulator.count("GET", "/status")

    async def test_trust_env_false_goes_direct(
        self, emulator: Any, api_key: str, proxy: TinyProxy, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with VisionoClient(
            api_key=api_key, base_url=emulator.base_url, trust_env=False
        ) as client:
            await client.status()
        assert [] == proxy.requests()

    async def test_a_refused_connect_is_a_proxy_error_naming_the_proxy(
        self, proxy: TinyProxy
    ) -> None:
        """tinyproxy refuses CONNECT to a port it does not allow: 403, once, not retried."""
        port = free_port()
        async with VisionoClient(
            api_key="k", base_url=f"https://127.0.0.1:{port}/v1", proxy=proxy.url
        ) as client:
            with pytest.raises(ProxyError) as e:
                await client.status()
        assert isinstance(e.value, APIConnectionError)
        assert (proxy.url, 403) == (e.value.proxy, e.value.status_code)
        assert f"proxy {proxy.url} refused CONNECT to 127.0.0.1:{port}: 403" in str(e.value)
        assert [("CONNECT", f"127.0.0.1:{port}")] == proxy.requests()

    async def test_an_unreachable_proxy_is_a_proxy_error_retried_a_bounded_number_of_times(
        self, emulator: Any, api_key: str
    ) -> None:
        nobody = f"http://127.0.0.1:{free_port()}"
        async with VisionoClient(
            api_key=api_key,
            base_url=emulator.base_url,
            proxy=nobody,
            retry=RetryPolicy(max_retries=2, backoff_base=0.0),
        ) as client:
            with pytest.raises(ProxyError, match=f"could not connect to proxy {nobody}") as e:
                await client.status()
            assert 3 == client.session.api_calls
        assert (nobody, None) == (e.value.proxy, e.value.status_code)
        assert 0 == emulator.count("GET", "/status")


JSON_OK = b'{"data": {"ok": true}}'


def _ca_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


class TestProxyCredentials:
    async def test_http_credentials_reach_the_proxy_and_never_the_origin(self) -> None:
        """Absolute form: Proxy-Authorization on the request, consumed by the proxy."""
        async with (
            header_origin(JSON_OK, content_type="application/json") as origin,
            RecordingProxy(credentials=f"alice:{SECRET}") as proxy,
            VisionoClient(
                api_key="k",
                base_url=origin.base_url,
                proxy=f"http://alice:{SECRET}@127.0.0.1:{proxy.port}",
                trust_env=False,
            ) as client,
        ):
            response = await client.session.request("GET", "/thing")
        assert {"ok": True} == response.data
        assert [f"{origin.base_url}/thing"] == [seen.target for seen in proxy.seen]
        assert proxy.expected == proxy.seen[0].headers["proxy-authorization"]
        assert 1 == len(origin.received)
        assert "proxy-authorization" not in origin.received[0]

    async def test_https_credentials_go_on_connect_only(self) -> None:
        """A tunnel: the CONNECT carries the credentials, the tunnelled request does not."""
        server_ctx, client_ctx = _ca_contexts()
        async with (
            header_origin(JSON_OK, content_type="application/json", ssl=server_ctx) as origin,
            RecordingProxy(credentials=f"alice:{SECRET}") as proxy,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as http,
            VisionoClient(
                api_key="k",
                base_url=origin.base_url,
                proxy=f"http://alice:{SECRET}@127.0.0.1:{proxy.port}",
                http_session=http,
            ) as client,
        ):
            response = await client.session.request("GET", "/thing")
        assert {"ok": True} == response.data
        assert [("CONNECT", f"127.0.0.1:{origin.port}")] == [
            (seen.method, seen.target) for seen in proxy.seen
        ]
        assert proxy.expected == proxy.seen[0].headers["proxy-authorization"]
        assert "proxy-authorization" not in origin.received[0]

    @pytest.mark.parametrize("tls", [False, True], ids=["http", "https-connect"])
    @pytest.mark.parametrize("given", [None, "alice:wrong"], ids=["none", "wrong"])
    async def test_a_407_is_a_proxy_error_and_not_retried(
        self, tls: bool, given: str | None
    ) -> None:
        server_ctx, client_ctx = _ca_contexts()
        async with (
            header_origin(JSON_OK, ssl=server_ctx if tls else None) as origin,
            RecordingProxy(credentials=f"alice:{SECRET}") as proxy,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as http,
        ):
            userinfo = f"{given}@" if given else ""
            async with VisionoClient(
                api_key="k",
                base_url=origin.base_url,
                proxy=f"http://{userinfo}127.0.0.1:{proxy.port}",
                http_session=http,
            ) as client:
                with pytest.raises(ProxyError) as e:
                    await client.session.request("GET", "/thing")
        assert 407 == e.value.status_code
        message = str(e.value)
        assert f"proxy {proxy.url} refused" in message
        assert "407" in message
        assert ("rejected the credentials" if given else "needs credentials") in message
        assert "wrong" not in message
        assert 1 == len(proxy.seen)
        assert [] == origin.received
