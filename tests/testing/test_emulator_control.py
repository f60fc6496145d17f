"""``/_emulator/...``: simulating recipients over HTTP, for an emulator run as a process."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.testing.helpers import Api
from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator, sample_jpeg

pytestmark = pytest.mark.anyio


class TestControlRoutes:
    async def test_upload_fills_an_item_and_is_downloadable(
        self, emulator: Any, client: VisionoClient
    ) -> None:
        """A POSTed body becomes the item's photo, byte for byte, with GPS."""
        pr = await client.photo_requests.create(instructions="x", items=[{"instructions": "a"}])
        photo = sample_jpeg(12_345, seed=7)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{emulator.root_url}/_emulator/photo-requests/{pr.id}/submissions",
                params={"item_id": pr.items[0].id, "lat": "45.5", "lng": "9.2"},
                data=photo,
                headers={"Content-Type": "image/jpeg"},
            ) as resp:
                assert 201 == resp.status
                sub = (await resp.json())["data"]
            urls = await client.photo_requests.download_urls(pr.id)
            async with http.get(urls.submissions[0].download_url) as resp:
                assert photo == await resp.read()
        assert pr.items[0].id == sub["item_id"]
        assert (45.5, 9.2) == (sub["gps_latitude"], sub["gps_longitude"])
        assert "submitted" == (await client.photo_requests.get(pr.id)).status

    async def test_refusal_is_a_422_with_the_reason(self, emulator: Any) -> None:
        """An unknown request is refused with a JSON error naming it."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{emulator.root_url}/_emulator/photo-requests/pr_nope/submissions") as resp,
        ):
            assert 422 == resp.status
            body = await resp.json()
        assert "simulation_refused" == body["error"]["code"]
        assert "pr_nope" in body["error"]["message"]

    @pytest.mark.parametrize(
        "query", [{"lat": "1"}, {"lat": "north", "lng": "2"}], ids=["half-gps", "not-a-number"]
    )
    async def test_bad_gps_is_refused(
        self, emulator: Any, client: VisionoClient, query: dict[str, str]
    ) -> None:
        """GPS needs both coordinates, as numbers."""
        pr = await client.photo_requests.create(instructions="x")
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{emulator.root_url}/_emulator/photo-requests/{pr.id}/submissions", params=query
            ) as resp,
        ):
            assert 422 == resp.status
        assert 0 == (await client.photo_requests.get(pr.id)).submissions_count

    async def test_view_smart_link_upload_and_advance_time(
        self, emulator: Any, client: VisionoClient
    ) -> None:
        """view sets viewed_at, a smart-link upload gets a pls_ id, advance-time expires requests."""
        pr = await client.photo_requests.create(instructions="x", expires_in_hours=1)
        link = await client.smart_links.create(instructions="fleet")
        root = f"{emulator.root_url}/_emulator"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{root}/photo-requests/{pr.id}/view") as resp:
                assert 200 == resp.status
            async with http.post(
                f"{root}/smart-links/{link.id}/submissions", params={"unique_value": "AB-123"}
            ) as resp:
                assert 201 == resp.status
                assert (await resp.json())["data"]["id"].startswith("pls_")
            async with http.post(f"{root}/advance-time", params={"seconds": "7200"}) as resp:
                assert 200 == resp.status
            async with http.post(f"{root}/advance-time", params={"seconds": "-1"}) as resp:
                assert 422 == resp.status
        after = await client.photo_requests.get(pr.id)
        assert after.viewed_at is not None
        assert "expired" == after.status


class TestDeleteAnswer:
    @pytest.mark.parametrize(
        ("answer", "status", "body"),
        [("object", 200, b'{"data"'), ("empty", 200, b""), ("no_content", 204, b"")],
    )
    async def test_each_form(self, api: Api, answer: str, status: int, body: bytes) -> None:
        """``delete_answer`` picks how DELETE answers (Visiono does not document it)."""
        created = await api.create()
        api.emulator.delete_answer = answer  # type: ignore[assignment]
        reply = await api.call("DELETE", f"/photo-requests/{created['id']}")
        assert (status, True) == (reply.status, reply.raw.startswith(body))

    async def test_an_unknown_form_is_refused(self, emu: VisionoEmulator) -> None:
        """Only the three forms exist."""
        with pytest.raises(ValueError, match="delete_answer"):
            emu.delete_answer = "json"  # type: ignore[assignment]
