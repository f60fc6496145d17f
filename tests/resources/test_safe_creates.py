"""Creates that never make a duplicate, whether or not the API honours Idempotency-Key.

Visiono does not document ``Idempotency-Key``. After an ambiguous failure (a 5xx, or a
connection lost once the request was sent) a create looks for what it may already have
made before sending again. The emulator runs each case with the header honoured and with
it ignored, as the real API may ignore it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from visiono_async import RetryPolicy, ServerError, VisionoClient
from visiono_async.resources import CLIENT_REF

HONOURED = pytest.mark.parametrize("honoured", [True, False], ids=["key-honoured", "key-ignored"])


@pytest.fixture
async def fast(emulator: Any, api_key: str) -> AsyncIterator[VisionoClient]:
    """Quick retries, no pacing."""
    retry = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05)
    async with VisionoClient(
        api_key=api_key, base_url=emulator.base_url, retry=retry, rate_limit=None
    ) as client:
        yield client


def posts(emulator: Any, path: str) -> int:
    return len([r for r in emulator.requests if r.method == "POST" and r.path == path])


@HONOURED
class TestPhotoRequests:
    async def test_a_500_after_acting_returns_what_was_created(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """The server created the request, then answered 500: one request, one email."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(
            1, status=500, path="/photo-requests", method="POST", after_action=True
        )
        pr = await fast.photo_requests.create(
            instructions="x", recipient_email="a@example.com", send_email=True
        )
        assert [pr.id] == [e["photo_request_id"] for e in emulator.sent_emails]
        assert [pr.id] == [p.id async for p in fast.photo_requests.list()]
        assert 1 == posts(emulator, "/photo-requests")  # found, not sent again
        assert pr.metadata[CLIENT_REF].startswith("vsdk_")

    async def test_a_500_before_acting_is_sent_again(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """Nothing was created: the lookup finds nothing, the create is resent, once."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(1, status=503, path="/photo-requests", method="POST")
        pr = await fast.photo_requests.create(instructions="x", idempotency_key="ticket-7")
        assert [pr.id] == [p.id async for p in fast.photo_requests.list()]
        assert 2 == posts(emulator, "/photo-requests")
        assert "ticket-7" == pr.metadata[CLIENT_REF]

    async def test_a_connection_lost_after_sending_is_recovered(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """A reset once the request went out: looked up, then resent; one request exists."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.reset(1, path="/photo-requests", method="POST")
        pr = await fast.photo_requests.create(instructions="x")
        assert [pr.id] == [p.id async for p in fast.photo_requests.list()]

    async def test_a_lookup_that_fails_does_not_resend(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """If the lookup itself fails, the original error is raised: never a blind resend."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(
            1, status=500, path="/photo-requests", method="POST", after_action=True
        )
        emulator.faults.fail_next(10, status=500, path="/photo-requests", method="GET")
        with pytest.raises(ServerError):
            await fast.photo_requests.create(instructions="x", send_email=False)
        assert 1 == posts(emulator, "/photo-requests")
        emulator.faults.clear()
        assert 1 == len([p async for p in fast.photo_requests.list()])


@HONOURED
class TestCreateMany:
    async def test_a_batch_that_got_a_500_after_acting_is_found_not_resent(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """12 specs, the first batch answered 500 after it was created: 12 requests, in
        order, and the failed batch not sent again."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(
            1, status=500, path="/photo-requests/batch", method="POST", after_action=True
        )
        specs = [{"instructions": f"r{n}"} for n in range(12)]
        created = await fast.photo_requests.create_many(specs, concurrency=1)
        assert [f"r{n}" for n in range(12)] == [pr.instructions for pr in created]
        assert 12 == len([p async for p in fast.photo_requests.list()])
        assert 2 == posts(emulator, "/photo-requests/batch")


@HONOURED
class TestSmartLinks:
    async def test_a_500_after_acting_returns_the_link_with_that_slug(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """A smart link with a custom_slug is found by it: one link."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(
            1, status=500, path="/smart-links", method="POST", after_action=True
        )
        sl = await fast.smart_links.create(instructions="x", custom_slug="fleet-7")
        assert [sl.id] == [s.id async for s in fast.smart_links.list()]
        assert "fleet-7" == sl.custom_slug
        assert 1 == posts(emulator, "/smart-links")


@HONOURED
class TestWebhooks:
    async def test_a_500_after_acting_leaves_one_endpoint_with_a_secret(
        self, fast: VisionoClient, emulator: Any, honoured: bool
    ) -> None:
        """The endpoint found has no secret any more (it is shown once), so it is replaced:
        one endpoint, and the secret returned is the one it signs with."""
        emulator.honor_idempotency_keys = honoured
        emulator.faults.fail_next(1, status=500, path="/webhooks", method="POST", after_action=True)
        wh = await fast.webhooks.create(
            url="https://example.com/hook", events=["photo_request.created"]
        )
        endpoints = [w async for w in fast.webhooks.list()]
        assert [wh.id] == [w.id for w in endpoints]
        assert wh.secret
        assert emulator._backend.store.webhooks[wh.id].secret == wh.secret
