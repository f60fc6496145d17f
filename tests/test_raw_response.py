"""``with_raw_response``: the status, headers and request id of a successful call."""

from __future__ import annotations

import pytest

from visiono_async import NotFoundError, RawResponse, VisionoClient
from visiono_async.models import PhotoRequest
from visiono_async.testing import VisionoEmulator


def last_api_request_id(emulator: VisionoEmulator) -> str | None:
    """The request id the emulator sent with its last API answer."""
    return [r for r in emulator.requests if r.api][-1].request_id


class TestRawResponse:
    async def test_get_answers_with_status_headers_request_id_and_the_model(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """The raw answer carries what the emulator sent, and parse() is what get() returns."""
        pr = await client.photo_requests.create(instructions="Upload your ID")
        raw = await client.photo_requests.with_raw_response.get(pr.id)
        assert isinstance(raw, RawResponse)
        assert 200 == raw.status_code
        sent = last_api_request_id(emulator)
        assert sent is not None
        assert sent.startswith("req_")
        assert sent == raw.request_id
        assert (sent,) == raw.request_ids
        assert raw.headers["X-RateLimit-Limit"] == raw.headers["x-ratelimit-limit"]
        assert "application/json" in raw.headers["Content-Type"]
        parsed = raw.parse()
        assert isinstance(parsed, PhotoRequest)
        assert await client.photo_requests.get(pr.id) == parsed
        assert sent == raw.body["meta"]["request_id"]
        assert raw.received_at.tzinfo is not None
        assert sent in repr(raw)

    async def test_create_reports_the_create_call(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """A create's raw answer is the POST's (201 or 200, whatever the API chose)."""
        raw = await client.photo_requests.with_raw_response.create(instructions="x")
        assert "POST" == [r for r in emulator.requests if r.api][-1].method
        assert last_api_request_id(emulator) == raw.request_id
        assert raw.status_code in (200, 201)
        assert raw.parse().id.startswith("pr_")

    async def test_a_call_of_several_answers_lists_every_request_id(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """create_many of 25 sends three batches: three request ids, all distinct."""
        raw = await client.photo_requests.with_raw_response.create_many(
            [{"instructions": f"n{n}"} for n in range(25)]
        )
        assert 25 == len(raw.parse())
        assert 3 == len(set(raw.request_ids))
        sent = {r.request_id for r in emulator.requests if r.path == "/photo-requests/batch"}
        assert sent == set(raw.request_ids)

    async def test_an_answer_without_a_body_still_has_its_status(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """A cancel answered 204 gives status 204 and parse() None."""
        pr = await client.photo_requests.create(instructions="x")
        emulator.delete_answer = "no_content"
        raw = await client.photo_requests.with_raw_response.cancel(pr.id)
        assert 204 == raw.status_code
        assert raw.parse() is None

    async def test_every_resource_and_the_account_have_it(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """Smart links, permanent links, webhooks and stats answer raw too."""
        link = await client.smart_links.with_raw_response.create(instructions="x", name="a")
        assert link.parse().id.startswith("sl_")
        qr = await client.smart_links.with_raw_response.qrcode(link.parse().id)
        assert qr.parse().startswith("http")
        page = await client.permanent_links.with_raw_response.list_page()
        assert 200 == page.status_code
        events = await client.webhooks.with_raw_response.events()
        assert events.parse()
        stats = await client.with_raw_response.stats()
        assert last_api_request_id(emulator) == stats.request_id

    async def test_an_error_is_raised_as_without_it(self, client: VisionoClient) -> None:
        """A failed call raises its typed error, which carries the request id itself."""
        with pytest.raises(NotFoundError) as caught:
            await client.photo_requests.with_raw_response.get("pr_missing")
        assert caught.value.request_id is not None

    async def test_per_call_options_pass_through(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """The raw method takes the same keyword options (here max_retries)."""
        emulator.faults.fail_next(1, status=503, path="/status")
        raw = await client.with_raw_response.status(max_retries=1, timeout=10)
        assert 200 == raw.status_code
        assert 2 == emulator.count("GET", "/status")

    async def test_capture_ends_with_the_call(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """Calls made after a raw call are not added to its answer."""
        raw = await client.with_raw_response.status()
        await client.stats()
        assert 1 == len(raw.request_ids)
        assert last_api_request_id(emulator) != raw.request_id
