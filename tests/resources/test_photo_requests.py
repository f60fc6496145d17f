"""``client.photo_requests`` against the emulator, over real loopback HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from visiono_async import (
    APIError,
    APITimeoutError,
    NotFoundError,
    ValidationError,
    VisionoClient,
)
from visiono_async.models import (
    PhotoRequest,
    PhotoRequestItem,
    PhotoRequestStatus,
    Submission,
)
from visiono_async.resources import CLIENT_REF, CreateManyError

ID_CARD = [
    {"instructions": "Front of ID", "is_required": True},
    {"instructions": "Back of ID", "is_required": False},
]


class TestCreate:
    """``create`` sends the options given and returns the new request."""

    async def test_returns_the_created_request(self, client: VisionoClient) -> None:
        """The answer is a ``PhotoRequest`` with the given fields and server-made ones."""
        pr = await client.photo_requests.create(
            instructions="Upload your ID",
            items=ID_CARD,
            recipient_email="user@example.com",
            expires_in_hours=48,
            require_gps=True,
            internal_notes="Ticket #123",
            metadata={"ticket_id": "12345"},
        )
        expected = (
            "Upload your ID",
            "user@example.com",
            PhotoRequestStatus.PENDING,
            True,
            "Ticket #123",
            {"ticket_id": "12345", CLIENT_REF: pr.metadata[CLIENT_REF]},
            [("Front of ID", True), ("Back of ID", False)],
        )
        actual = (
            pr.instructions,
            pr.recipient_email,
            pr.status,
            pr.require_gps,
            pr.internal_notes,
            pr.metadata,
            [(item.instructions, item.is_required) for item in pr.items],
        )
        assert expected == actual

    async def test_times_are_aware_and_consistent(self, client: VisionoClient) -> None:
        """``expires_at`` is ``expires_in_hours`` after ``created_at``, both in UTC."""
        pr = await client.photo_requests.create(instructions="x", expires_in_hours=5)
        assert pr.created_at is not None and pr.expires_at is not None
        assert (timedelta(hours=5), timezone.utc) == (
            pr.expires_at - pr.created_at,
            pr.expires_at.tzinfo,
        )

    async def test_ids_have_their_prefixes(self, client: VisionoClient) -> None:
        """``pr_`` for the request, ``pri_`` for its items."""
        pr = await client.photo_requests.create(instructions="x", items=ID_CARD)
        assert (True, [True, True]) == (
            pr.id.startswith("pr_"),
            [item.id.startswith("pri_") for item in pr.items],
        )

    async def test_validation_error_names_the_field(self, client: VisionoClient) -> None:
        """A bad field is a ``ValidationError`` whose ``errors`` name it."""
        with pytest.raises(ValidationError) as caught:
            await client.photo_requests.create(instructions="x", expires_in_hours=0)
        assert ["expires_in_hours"] == list(caught.value.errors)


class TestCreateMany:
    """``create_many`` sends batches of 10 concurrently and keeps the input order."""

    async def test_25_specs_in_3_batches_in_order(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """25 specs: 3 batch calls, results in input order."""
        specs = [{"instructions": f"Photo {n}"} for n in range(25)]
        created = await client.photo_requests.create_many(specs)
        assert ([s["instructions"] for s in specs], 3) == (
            [pr.instructions for pr in created],
            emulator.count("POST", "/photo-requests/batch"),
        )

    async def test_every_request_exists(self, client: VisionoClient) -> None:
        """What ``create_many`` returns can be fetched again."""
        created = await client.photo_requests.create_many(
            [{"instructions": f"Photo {n}"} for n in range(12)], concurrency=1
        )
        fetched = [await client.photo_requests.get(pr.id) for pr in created]
        assert created == fetched

    async def test_no_specs_sends_nothing(self, client: VisionoClient, emulator: Any) -> None:
        """An empty input is an empty result without a call."""
        assert ([], 0) == (await client.photo_requests.create_many([]), len(emulator.requests))

    async def test_a_failed_batch_reports_what_was_created(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """One bad spec fails its batch only; the error holds the others and the failures."""
        specs: list[dict[str, Any]] = [{"instructions": f"Photo {n}"} for n in range(25)]
        specs[13] = {"instructions": ""}
        with pytest.raises(CreateManyError) as caught:
            await client.photo_requests.create_many(specs)
        error = caught.value
        created_names = [pr.instructions for pr in error.created]
        assert (
            [s["instructions"] for s in specs[:10] + specs[20:]],
            list(range(10, 20)),
            {ValidationError},
            [None] * 10,
            15,
        ) == (
            created_names,
            error.failed_indexes,
            {type(e) for e in error.errors.values()},
            error.results[10:20],
            len((await client.photo_requests.list_page(per_page=100)).items),
        )

    async def test_idempotency_keys_make_a_retry_safe(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """Sending the same specs with the same prefix again creates nothing new."""
        specs = [{"instructions": f"Photo {n}"} for n in range(15)]
        first = await client.photo_requests.create_many(specs, idempotency_key_prefix="job-7")
        again = await client.photo_requests.create_many(specs, idempotency_key_prefix="job-7")
        listed = await client.photo_requests.list_page(per_page=100)
        assert ([pr.id for pr in first], 15) == ([pr.id for pr in again], len(listed.items))

    async def test_specs_are_checked_before_sending(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A spec that is not a mapping is a TypeError, and nothing is sent."""
        with pytest.raises(TypeError, match=r"specs\[1\]"):
            await client.photo_requests.create_many([{"instructions": "x"}, "y"])  # type: ignore[list-item]
        assert 0 == len(emulator.requests)

    async def test_concurrency_must_be_positive(self, client: VisionoClient) -> None:
        """``concurrency=0`` would never send anything; it is refused."""
        with pytest.raises(ValueError, match="concurrency"):
            await client.photo_requests.create_many([{"instructions": "x"}], concurrency=0)


class TestGet:
    """``get`` finds a request by id, unique code or numeric code."""

    @pytest.mark.parametrize("key", ["id", "unique_code", "numeric_code"])
    async def test_by_any_identifier(self, client: VisionoClient, key: str) -> None:
        """Every identifier of a request finds the same request."""
        pr = await client.photo_requests.create(instructions="x")
        assert pr == await client.photo_requests.get(getattr(pr, key))

    async def test_unknown_id(self, client: VisionoClient) -> None:
        """An unknown id is a ``NotFoundError``."""
        with pytest.raises(NotFoundError):
            await client.photo_requests.get("pr_doesnotexist")

    async def test_timeout_is_passed_on(self, client: VisionoClient, emulator: Any) -> None:
        """A per-call timeout shorter than the server's delay raises ``APITimeoutError``."""
        pr = await client.photo_requests.create(instructions="x")
        emulator.faults.delay(2.0, path=f"/photo-requests/{pr.id}")
        with pytest.raises(APITimeoutError):
            await client.photo_requests.get(pr.id, timeout=0.2)


class TestList:
    """``list`` iterates every matching request; ``list_page`` fetches one page."""

    async def test_status_filter(self, client: VisionoClient) -> None:
        """Only cancelled requests when asking for ``cancelled``."""
        created = await client.photo_requests.create_many([{"instructions": "x"}] * 4)
        for pr in created[:2]:
            await client.photo_requests.cancel(pr.id)
        found = [pr.id async for pr in client.photo_requests.list(status="cancelled")]
        by_enum = [
            pr.id async for pr in client.photo_requests.list(status=PhotoRequestStatus.CANCELLED)
        ]
        assert (sorted(pr.id for pr in created[:2]), found) == (sorted(found), by_enum)

    async def test_created_time_filters(self, client: VisionoClient, emulator: Any) -> None:
        """``created_after`` and ``created_before`` split requests by creation time."""
        old = await client.photo_requests.create(instructions="old")
        emulator.advance_time(3600)
        new = await client.photo_requests.create(instructions="new")
        assert old.created_at is not None
        middle = old.created_at + timedelta(minutes=30)
        after = [pr.id async for pr in client.photo_requests.list(created_after=middle)]
        before = [pr.id async for pr in client.photo_requests.list(created_before=middle)]
        naive = middle.replace(tzinfo=None)
        naive_after = [pr.id async for pr in client.photo_requests.list(created_after=naive)]
        assert ([new.id], [old.id], [new.id]) == (after, before, naive_after)

    async def test_list_page(self, client: VisionoClient) -> None:
        """Page 2 of 40 at 15 a page holds 15 items and says a third page follows."""
        await client.photo_requests.create_many([{"instructions": "x"}] * 40)
        page = await client.photo_requests.list_page(page=2, per_page=15)
        assert (2, 3, 40, 15, True) == (
            page.current_page,
            page.last_page,
            page.total,
            len(page.items),
            page.has_next,
        )

    async def test_unknown_status_value_is_an_api_error(self, client: VisionoClient) -> None:
        """The server's 422 for an unknown status filter is passed on."""
        with pytest.raises(ValidationError):
            _ = [pr async for pr in client.photo_requests.list(status="on_hold")]


class TestCancel:
    """``cancel`` cancels an open request."""

    async def test_returns_the_cancelled_request(self, client: VisionoClient) -> None:
        """The answer has status ``cancelled``, and so does a later ``get``."""
        pr = await client.photo_requests.create(instructions="x")
        cancelled = await client.photo_requests.cancel(pr.id)
        again = await client.photo_requests.get(pr.id)
        assert cancelled is not None
        assert (PhotoRequestStatus.CANCELLED, PhotoRequestStatus.CANCELLED) == (
            cancelled.status,
            again.status,
        )

    @pytest.mark.parametrize("answer", ["empty", "no_content"])
    async def test_an_answer_without_the_object_is_none(
        self, client: VisionoClient, emulator: Any, answer: str
    ) -> None:
        """A 204 or an empty 200 (Visiono documents neither way) is a success: ``None``."""
        pr = await client.photo_requests.create(instructions="x")
        emulator.delete_answer = answer
        assert await client.photo_requests.cancel(pr.id) is None
        assert PhotoRequestStatus.CANCELLED == (await client.photo_requests.get(pr.id)).status

    async def test_twice_is_an_error(self, client: VisionoClient) -> None:
        """A cancelled request cannot be cancelled again (422 ``invalid_state``)."""
        pr = await client.photo_requests.create(instructions="x")
        await client.photo_requests.cancel(pr.id)
        with pytest.raises(ValidationError) as caught:
            await client.photo_requests.cancel(pr.id)
        assert "invalid_state" == caught.value.code


class TestSubmissions:
    """``submissions`` lists every uploaded photo."""

    async def test_lists_uploaded_photos(self, client: VisionoClient, emulator: Any) -> None:
        """Two uploads, one with GPS: two ``Submission`` objects in upload order."""
        pr = await client.photo_requests.create(instructions="x", items=ID_CARD)
        await emulator.simulate_submission(pr.id, pr.items[0].id, gps=(45.4642, 9.19))
        await emulator.simulate_submission(pr.id, pr.items[1].id)
        subs = await client.photo_requests.submissions(pr.id)
        expected = [
            (pr.items[0].id, pr.id, True, 45.4642, 9.19),
            (pr.items[1].id, pr.id, False, None, None),
        ]
        actual = [
            (s.item_id, s.photo_request_id, s.has_gps_data, s.gps_latitude, s.gps_longitude)
            for s in subs
        ]
        assert (expected, [True, True]) == (
            actual,
            [isinstance(s, Submission) and s.id.startswith("ps_") for s in subs],
        )

    async def test_none_yet(self, client: VisionoClient) -> None:
        """A request without uploads has no submissions."""
        pr = await client.photo_requests.create(instructions="x")
        assert [] == await client.photo_requests.submissions(pr.id)

    async def test_status_follows_the_uploads(self, client: VisionoClient, emulator: Any) -> None:
        """After every required photo the request is ``submitted``."""
        pr = await client.photo_requests.create(instructions="x", items=ID_CARD)
        await emulator.simulate_submission(pr.id, pr.items[0].id)
        fetched = await client.photo_requests.get(pr.id)
        assert PhotoRequestStatus.SUBMITTED == fetched.status


class TestDownloadURLs:
    """``download_urls`` returns signed URLs and when they expire."""

    async def test_urls_and_expiry(self, client: VisionoClient, emulator: Any) -> None:
        """One entry per photo; ``expires_at`` is ``fetched_at`` plus ``expires_in_seconds``."""
        pr = await client.photo_requests.create(instructions="x", items=ID_CARD)
        await emulator.simulate_submission(pr.id, pr.items[0].id, gps=(1.5, 2.5))
        await emulator.simulate_submission(pr.id, pr.items[1].id)
        urls = await client.photo_requests.download_urls(pr.id)
        assert urls.fetched_at is not None
        assert (pr.id, None, 2, 86400, "24 hours", urls.fetched_at + timedelta(days=1)) == (
            urls.photo_request_id,
            urls.smart_link_id,
            len(urls.submissions),
            urls.expires_in_seconds,
            urls.urls_valid_for,
            urls.expires_at,
        )
        first = urls.submissions[0]
        assert (pr.items[0].id, True, 1.5, "image/jpeg", True) == (
            first.item_id,
            first.has_gps_data,
            first.gps_latitude,
            first.mime_type,
            bool(first.download_url and first.thumbnail_url),
        )

    async def test_fetched_at_is_when_the_call_was_made(self, client: VisionoClient) -> None:
        """``fetched_at`` is an aware UTC time close to now."""
        pr = await client.photo_requests.create(instructions="x")
        before = datetime.now(timezone.utc)
        urls = await client.photo_requests.download_urls(pr.id)
        after = datetime.now(timezone.utc)
        assert urls.fetched_at is not None
        assert before - timedelta(seconds=1) <= urls.fetched_at <= after

    async def test_expires_within(self, client: VisionoClient) -> None:
        """True within the margin of ``expires_at``, False before it."""
        pr = await client.photo_requests.create(instructions="x")
        urls = await client.photo_requests.download_urls(pr.id)
        assert urls.expires_at is not None
        soon = urls.expires_at - timedelta(seconds=30)
        assert (False, True, False, True) == (
            urls.expires_within(60),
            urls.expires_within(60, now=soon),
            urls.expires_within(10, now=soon),
            urls.expires_within(0, now=urls.expires_at.replace(tzinfo=None)),
        )


class TestQRCode:
    """``qrcode`` returns the QR image URL."""

    async def test_returns_the_image_url(self, client: VisionoClient) -> None:
        """A URL of a PNG named after the request's code."""
        pr = await client.photo_requests.create(instructions="x")
        url = await client.photo_requests.qrcode(pr.id)
        assert url.endswith(f"/qr/{pr.unique_code}.png")

    async def test_missing_url_is_an_invalid_response(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A body without ``qrcode_url`` is an ``APIError`` with ``invalid_response``."""
        emulator.faults.fail_next(1, status=200, body={"data": {}}, path="/qrcode")
        with pytest.raises(APIError, match="qrcode_url") as caught:
            await client.photo_requests.qrcode("pr_1")
        assert "invalid_response" == caught.value.code


class TestServerGrowth:
    """Fields and states the SDK does not know yet do not break it."""

    async def test_unknown_fields_and_status(self, client: VisionoClient, emulator: Any) -> None:
        """An unknown status stays a string; unknown keys land in ``extra``."""
        body = {
            "data": {
                "id": "pr_1",
                "status": "on_hold",
                "priority": "high",
                "items": [{"id": "pri_1", "instructions": "x", "camera": "rear"}],
                "created_at": "2024-12-10T12:00:00Z",
            }
        }
        emulator.faults.fail_next(1, status=200, body=body, path="/photo-requests/pr_1")
        pr = await client.photo_requests.get("pr_1")
        expected = PhotoRequest(
            id="pr_1",
            status="on_hold",
            items=[PhotoRequestItem(id="pri_1", instructions="x", extra={"camera": "rear"})],
            created_at=datetime(2024, 12, 10, 12, tzinfo=timezone.utc),
            extra={"priority": "high"},
        )
        assert expected == pr

    async def test_a_body_that_does_not_fit_is_an_invalid_response(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A 200 whose data is not a photo request is an ``APIError`` saying what is wrong."""
        body = {"data": {"status": "pending", "created_at": "yesterday"}}
        emulator.faults.fail_next(1, status=200, body=body, path="/photo-requests/pr_1")
        with pytest.raises(APIError, match=r"required field missing @ \$\.id") as caught:
            await client.photo_requests.get("pr_1")
        assert ("invalid_response", "GET", "/photo-requests/pr_1") == (
            caught.value.code,
            caught.value.method,
            caught.value.path,
        )
