"""The client's construction, configuration, lifecycle and public surface."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

import visiono_async
from visiono_async import DEFAULT_BASE_URL, AuthenticationError, VisionoClient


class TestConstruction:
    def test_missing_key_is_an_error_at_construction(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No argument and no $VISIONO_API_KEY is a ValueError naming the variable."""
        monkeypatch.delenv("VISIONO_API_KEY", raising=False)
        with pytest.raises(ValueError, match="VISIONO_API_KEY"):
            VisionoClient()

    def test_blank_key_is_an_error(self) -> None:
        """A key of only whitespace is rejected before any request."""
        with pytest.raises(ValueError, match="API key"):
            VisionoClient(api_key="   ")

    def test_key_and_base_url_come_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """$VISIONO_API_KEY and $VISIONO_BASE_URL are used when no argument is given."""
        monkeypatch.setenv("VISIONO_API_KEY", "vsk_test_fromenv")
        monkeypatch.setenv("VISIONO_BASE_URL", "http://127.0.0.1:1/api/v1/")
        client = VisionoClient()
        assert "http://127.0.0.1:1/api/v1" == client.base_url

    def test_default_base_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without argument or variable the vendor's current base URL is used."""
        monkeypatch.delenv("VISIONO_BASE_URL", raising=False)
        assert DEFAULT_BASE_URL == VisionoClient(api_key="k").base_url

    def test_base_url_needs_a_scheme(self) -> None:
        """A base URL without http(s):// is rejected with the offending value."""
        with pytest.raises(ValueError, match=r"www\.visiono\.io"):
            VisionoClient(api_key="k", base_url="www.visiono.io/api/v1")

    def test_timeout_must_be_positive(self) -> None:
        """A zero timeout would make every call fail; it is rejected up front."""
        with pytest.raises(ValueError, match="timeout"):
            VisionoClient(api_key="k", timeout=0)

    def test_repr_never_shows_the_key(self) -> None:
        """Neither the client's nor its session's repr contains the key."""
        key = "vsk_test_" + "s3cr3t" * 5
        client = VisionoClient(api_key=key)
        for text in (repr(client), str(client), repr(client.session), repr(vars(client.session))):
            assert key not in text


class TestLifecycle:
    async def test_closed_client_refuses_use(self, emulator: Any, api_key: str) -> None:
        """After aclose() a call raises a RuntimeError that says the client is closed."""
        client = VisionoClient(api_key=api_key, base_url=emulator.base_url)
        await client.status()
        await client.aclose()
        assert client.closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.status()
        await client.aclose()  # a second close is harmless

    async def test_works_without_async_with(self, emulator: Any, api_key: str) -> None:
        """The pool is opened lazily on first use when the client is not entered."""
        client = VisionoClient(api_key=api_key, base_url=emulator.base_url)
        try:
            assert "operational" == (await client.status()).status
        finally:
            await client.aclose()

    async def test_a_session_passed_in_is_left_open(self, emulator: Any, api_key: str) -> None:
        """The client does not close an aiohttp session it did not create."""
        async with aiohttp.ClientSession() as http:
            async with VisionoClient(
                api_key=api_key, base_url=emulator.base_url, http_session=http
            ) as client:
                await client.status()
            assert client.closed
            assert not http.closed

    async def test_legacy_base_url_style(self, emulator: Any, api_key: str) -> None:
        """A base URL in the older ``.../v1`` style (api.visio.now) reaches the same API."""
        async with VisionoClient(api_key=api_key, base_url=emulator.root_url + "/v1") as client:
            assert "operational" == (await client.status()).status
        assert 1 == emulator.count("GET", "/status")


class TestLogging:
    async def test_calls_are_logged_without_the_key(
        self, emulator: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each call logs method, path and status; no record mentions the key, even on a 401."""
        key = emulator.create_api_key()
        caplog.set_level(logging.DEBUG, logger="visiono_async")
        async with VisionoClient(api_key=key, base_url=emulator.base_url, rate_limit=None) as c:
            await c.status()
            emulator.revoke_api_key(key)
            with pytest.raises(AuthenticationError) as info:
                await c.status()
        messages = [r.getMessage() for r in caplog.records]
        assert any("GET /status -> 200" in m for m in messages)
        assert any("GET /status -> 401" in m for m in messages)
        assert all(key not in m for m in messages)
        assert key not in str(info.value)
        assert key not in repr(info.value.headers)


class TestPublicSurface:
    def test_all_is_sorted_and_exported(self) -> None:
        """``__all__`` is sorted and names exactly what the package exports."""
        names = visiono_async.__all__
        assert sorted(names) == names
        for name in names:
            assert hasattr(visiono_async, name), name

    def test_exception_tree(self) -> None:
        """The hierarchy is the one in API.md."""
        v = visiono_async
        for cls in (v.BadRequestError, v.AuthenticationError, v.PermissionDeniedError,
                    v.NotFoundError, v.ValidationError, v.RateLimitError, v.ServerError):  # fmt: skip
            assert issubclass(cls, v.APIError)
        assert issubclass(v.APITimeoutError, v.APIConnectionError)
        for cls in (v.APIError, v.APIConnectionError, v.InvalidSignatureError, v.DownloadError):
            assert issubclass(cls, v.VisionoError)
