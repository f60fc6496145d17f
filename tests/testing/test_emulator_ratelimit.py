"""Per-key rate limits: headers on every answer, 429 with Retry-After when exceeded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tiny() -> AsyncIterator[VisionoEmulator]:
    """An emulator allowing 3 requests a minute and 5 an hour."""
    async with VisionoEmulator(rate_limit_per_minute=3, rate_limit_per_hour=5) as emu:
        yield emu


@pytest.fixture
def limited(http: aiohttp.ClientSession, tiny: VisionoEmulator) -> Api:
    """A caller on the tiny emulator."""
    return Api(http, tiny, tiny.create_api_key())


class TestHeaders:
    async def test_remaining_counts_down(self, limited: Api) -> None:
        """Limit is the per-minute limit; Remaining drops by one per request."""
        replies = [await limited.get("/stats") for _ in range(3)]

        assert [r.headers["X-RateLimit-Limit"] for r in replies] == ["3", "3", "3"]
        assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0"]
        resets = {int(r.headers["X-RateLimit-Reset"]) for r in replies}
        assert len(resets) == 1

    async def test_errors_carry_them_too(self, limited: Api) -> None:
        """404, 422 and 401 answers have the headers."""
        not_found = await limited.get("/photo-requests/pr_nope")
        invalid = await limited.post("/photo-requests", {})
        unauthenticated = await limited.get("/stats", key=None)

        for reply in (not_found, invalid, unauthenticated):
            assert "X-RateLimit-Remaining" in reply.headers
            assert "X-RateLimit-Reset" in reply.headers


class TestExceeded:
    async def test_fourth_request_in_a_minute_is_429(self, limited: Api) -> None:
        """Over the minute limit: 429 ``rate_limited`` with Retry-After and the headers."""
        for _ in range(3):
            await limited.get("/stats")

        reply = await limited.get("/stats")

        assert reply.status == 429
        assert reply.body["error"]["code"] == "rate_limited"
        assert 1 <= int(reply.headers["Retry-After"]) <= 60
        assert reply.headers["X-RateLimit-Remaining"] == "0"
        assert reply.headers["X-RateLimit-Limit"] == "3"

    async def test_refused_requests_do_not_count(self, limited: Api, tiny: VisionoEmulator) -> None:
        """The hour budget is spent only by served requests."""
        for _ in range(6):
            await limited.get("/stats")
        stats = tiny.count("GET", "/stats")

        assert stats == 6
        assert [r.status for r in tiny.requests] == [200, 200, 200, 429, 429, 429]

    async def test_limits_are_per_key(self, limited: Api, tiny: VisionoEmulator) -> None:
        """Another key has its own budget."""
        for _ in range(4):
            await limited.get("/stats")

        reply = await limited.with_key(tiny.create_api_key()).get("/stats")

        assert reply.status == 200

    async def test_hour_limit_applies_with_its_own_retry_after(
        self, http: aiohttp.ClientSession
    ) -> None:
        """When the hour window is spent, Retry-After points at the hour window's end."""
        async with VisionoEmulator(rate_limit_per_minute=10, rate_limit_per_hour=2) as emu:
            api = Api(http, emu, emu.create_api_key())
            for _ in range(2):
                await api.get("/stats")
            reply = await api.get("/stats")

        assert reply.status == 429
        assert int(reply.headers["Retry-After"]) > 60

    async def test_advance_time_does_not_refill(self, limited: Api, tiny: VisionoEmulator) -> None:
        """Windows run on the real clock."""
        for _ in range(3):
            await limited.get("/stats")
        tiny.advance_time(3600)

        assert (await limited.get("/stats")).status == 429
