"""Fault injection: failures, delays, cut bodies and resets, recorded like any request."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.anyio


class TestFailNext:
    async def test_answers_the_standard_error_then_recovers(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """``fail_next()`` fails one request with a 500 JSON error, then stops."""
        emu.faults.fail_next()

        failed = await api.get("/photo-requests")
        recovered = await api.get("/photo-requests")

        assert failed.status == 500
        assert failed.body["error"]["code"] == "server_error"
        assert failed.body["meta"]["request_id"] == failed.headers["X-Request-Id"]
        assert "X-RateLimit-Limit" in failed.headers
        assert recovered.status == 200
        assert emu.requests[-2].fault == "fail"
        assert emu.requests[-2].status == 500

    async def test_fires_count_times(self, api: Api, emu: VisionoEmulator) -> None:
        """``count`` failures in a row."""
        emu.faults.fail_next(2, 503)

        statuses = [(await api.get("/stats")).status for _ in range(3)]

        assert statuses == [503, 503, 200]

    async def test_comes_before_authentication(self, api: Api, emu: VisionoEmulator) -> None:
        """Even a keyless request gets the fault."""
        emu.faults.fail_next(status=502)

        reply = await api.get("/photo-requests", key=None)

        assert reply.status == 502
        assert reply.body["error"]["code"] == "bad_gateway"

    async def test_429_carries_retry_after(self, api: Api, emu: VisionoEmulator) -> None:
        """An injected 429 looks like a real one."""
        emu.faults.fail_next(status=429)

        reply = await api.get("/stats")

        assert reply.body["error"]["code"] == "rate_limited"
        assert reply.headers["Retry-After"] == "1"

    async def test_matches_method_and_path(self, api: Api, emu: VisionoEmulator) -> None:
        """Only requests with the method and containing the path are hit."""
        emu.faults.fail_next(path="/download-urls", method="GET")
        pr = await api.create()

        assert (await api.get(f"/photo-requests/{pr['id']}")).status == 200
        assert (await api.get(f"/photo-requests/{pr['id']}/download-urls")).status == 500

    async def test_custom_body_and_headers(self, api: Api, emu: VisionoEmulator) -> None:
        """A str body is sent as is, e.g. a proxy's HTML error page."""
        page = "<html><body>502 Bad Gateway</body></html>"
        emu.faults.fail_next(
            status=502, body=page, content_type="text/html", headers={"X-Proxy": "1"}
        )

        reply = await api.get("/stats")

        assert reply.status == 502
        assert reply.raw.decode() == page
        assert reply.headers["Content-Type"].startswith("text/html")
        assert reply.headers["X-Proxy"] == "1"

    async def test_a_200_with_an_error_body(self, api: Api, emu: VisionoEmulator) -> None:
        """A dict body is sent as JSON with any status."""
        emu.faults.fail_next(status=200, body={"error": {"code": "server_error"}})

        reply = await api.get("/stats")

        assert reply.status == 200
        assert reply.body == {"error": {"code": "server_error"}}

    async def test_without_after_action_nothing_happens(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """By default the server did not act."""
        emu.faults.fail_next(method="POST", path="/photo-requests")

        await api.post("/photo-requests", {"instructions": "x"})

        assert (await api.get("/photo-requests")).body["meta"]["total"] == 0

    async def test_after_action_acts_then_fails(self, api: Api, emu: VisionoEmulator) -> None:
        """With ``after_action`` the request is created, yet the client sees a 500."""
        emu.faults.fail_next(method="POST", path="/photo-requests", after_action=True)

        reply = await api.post("/photo-requests", {"instructions": "x"})

        assert reply.status == 500
        assert (await api.get("/photo-requests")).body["meta"]["total"] == 1

    async def test_after_action_with_idempotency_key_makes_retries_safe(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """A retry with the same Idempotency-Key replays the create that did happen."""
        emu.faults.fail_next(method="POST", after_action=True)
        headers = {"Idempotency-Key": "retry-me"}

        failed = await api.post("/photo-requests", {"instructions": "x"}, headers=headers)
        retried = await api.post("/photo-requests", {"instructions": "x"}, headers=headers)

        assert failed.status == 500
        assert retried.status == 201
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert (await api.get("/photo-requests")).body["meta"]["total"] == 1

    async def test_storage_faults_answer_xml(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """On storage routes the default body is S3-style XML."""
        pr = await api.create()
        await emu.simulate_submission(pr["id"])
        url = (await api.get(f"/photo-requests/{pr['id']}/download-urls")).data["submissions"][0]
        emu.faults.fail_next(status=503, path="/storage/")

        async with http.get(url["download_url"]) as resp:
            body = await resp.text()

        assert resp.status == 503
        assert "<Code>SlowDown</Code>" in body


class TestDelay:
    async def test_delays_until_cleared(self, api: Api, emu: VisionoEmulator) -> None:
        """A client with a short timeout gives up on a delayed request."""
        emu.faults.delay(30, path="/stats")

        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await api.http.get(
                emu.base_url + "/stats",
                headers={"X-API-Key": api.key or ""},
                timeout=aiohttp.ClientTimeout(total=0.2),
            )
        emu.faults.clear()

        assert (await api.get("/stats")).status == 200
        assert emu.count(path_contains="/stats") == 2
        assert emu.requests[0].fault == "delay"

    async def test_counted_delay_then_normal(self, api: Api, emu: VisionoEmulator) -> None:
        """``count`` delays, then requests are served at once; the answer is unchanged."""
        emu.faults.delay(0.01, count=1)

        reply = await api.get("/stats")

        assert reply.status == 200
        assert [r.fault for r in emu.requests] == ["delay"]
        assert emu.faults.pending == 0


class TestCutBody:
    async def test_api_body_is_cut(self, api: Api, emu: VisionoEmulator) -> None:
        """The client sees the full Content-Length, then a broken connection."""
        await api.create()
        emu.faults.cut_body(10, path="/photo-requests")

        with pytest.raises(aiohttp.ClientPayloadError):
            await api.get("/photo-requests")

        assert emu.requests[-1].fault == "cut_body"
        assert emu.requests[-1].status == 200

    async def test_storage_body_is_cut_after_n_bytes(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """A download breaks after ``after_bytes``; the next one is whole."""
        pr = await api.create()
        await emu.simulate_submission(pr["id"], size=300_000)
        entry = (await api.get(f"/photo-requests/{pr['id']}/download-urls")).data["submissions"][0]
        emu.faults.cut_body(100_000, path="/storage/")
        received = bytearray()
        headers: dict[str, str] = {}

        async def download() -> None:
            async with http.get(entry["download_url"]) as resp:
                headers.update(resp.headers)
                async for chunk in resp.content.iter_any():
                    received.extend(chunk)

        with pytest.raises(aiohttp.ClientPayloadError):
            await download()
        async with http.get(entry["download_url"]) as resp:
            whole = await resp.read()

        assert headers["Content-Length"] == "300000"
        assert len(received) <= 100_000
        assert len(whole) == 300_000


class TestReset:
    async def test_closes_without_answering(self, api: Api, emu: VisionoEmulator) -> None:
        """The client sees a disconnect; the records have no status.

        aiohttp itself retries an idempotent request once after a disconnect, hence two.
        """
        emu.faults.reset(2, path="/stats")

        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.get("/stats")

        assert [(r.fault, r.status) for r in emu.requests] == [("reset", None), ("reset", None)]
        assert (await api.get("/stats")).status == 200

    async def test_method_filter(self, api: Api, emu: VisionoEmulator) -> None:
        """A reset limited to POST leaves GETs alone."""
        emu.faults.reset(method="POST")

        assert (await api.get("/stats")).status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.post("/photo-requests", {"instructions": "x"})


class TestArming:
    @pytest.mark.parametrize(
        "arm",
        [
            lambda f: f.fail_next(0),
            lambda f: f.delay(-1),
            lambda f: f.cut_body(-1),
            lambda f: f.reset(0),
        ],
        ids=["fail_next", "delay", "cut_body", "reset"],
    )
    async def test_nonsense_arguments_are_refused(self, emu: VisionoEmulator, arm: object) -> None:
        """Counts below one and negative sizes raise ValueError."""
        with pytest.raises(ValueError, match="needs"):
            arm(emu.faults)  # type: ignore[operator]

    async def test_clear_disarms_everything(self, api: Api, emu: VisionoEmulator) -> None:
        """After ``clear()`` nothing fires."""
        emu.faults.fail_next(5)
        emu.faults.reset(5)
        emu.faults.clear()

        assert (await api.get("/stats")).status == 200
