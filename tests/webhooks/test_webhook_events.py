"""construct_event: verified, typed events; replays and malformed bodies rejected clearly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from visiono_async.models.photo_requests import PhotoRequest, PhotoRequestStatus
from visiono_async.models.submissions import Submission
from visiono_async.webhooks import (
    DEFAULT_TOLERANCE,
    EVENT_TYPES,
    InvalidPayloadError,
    InvalidSignatureError,
    PhotoRequestCreated,
    PhotoRequestEvent,
    PhotoRequestExpired,
    PhotoRequestFirstViewed,
    PhotoRequestSubmitted,
    PhotoSubmissionCreated,
    StaleWebhookError,
    SubmissionCreated,
    UnknownEvent,
    WebhookEvent,
    build_delivery,
    compute_signature,
    construct_event,
)

SECRET = "whsec_events_test"

PHOTO_REQUEST = {
    "id": "pr_123",
    "unique_code": "ABC123",
    "status": "in_progress",
    "metadata": {"ticket_id": "12345"},
}
SUBMISSION = {
    "id": "ps_456",
    "item_id": "pri_1",
    "file_size_kb": 1024,
    "mime_type": "image/jpeg",
    "has_gps_data": True,
    "gps_latitude": 45.4642,
    "gps_longitude": 9.19,
    "submitted_at": "2024-12-25T14:30:00Z",
}

# The vendor's photo_request.created example, byte for byte as documented.
VENDOR_CREATED = b"""{
  "event": "photo_request.created",
  "timestamp": "2024-12-25T12:00:00Z",
  "data": {
    "photo_request": {
      "id": "pr_123",
      "unique_code": "ABC123",
      "status": "pending",
      "recipient_email": "user@example.com",
      "request_url": "https://tenant.visio.now/ABC123",
      "expires_at": "2024-12-27T12:00:00Z",
      "metadata": {"ticket_id": "12345"}
    }
  }
}"""


def signed(body: bytes, **headers: str) -> dict[str, str]:
    """Headers for ``body`` signed with SECRET, plus any given (underscores become dashes)."""
    result = {"X-Visiono-Signature": compute_signature(body, SECRET)}
    result.update({k.replace("_", "-"): v for k, v in headers.items()})
    return result


def body_of(event: str, data: Any, *, timestamp: Any = None) -> bytes:
    when = timestamp if timestamp is not None else datetime.now(timezone.utc).isoformat()
    return json.dumps({"event": event, "timestamp": when, "data": data}).encode()


class TestDocumentedEvents:
    def test_vendor_example_parses_into_a_typed_event(self) -> None:
        """The documented photo_request.created body becomes a PhotoRequestCreated."""
        headers = signed(
            VENDOR_CREATED,
            **{"X-Visiono-Event": "photo_request.created", "X-Visiono-Delivery": "dlv_1"},
            **{"X-Visiono-Tenant-Id": "tenant_42"},
        )
        event = construct_event(VENDOR_CREATED, headers, SECRET, tolerance=None)
        assert isinstance(event, PhotoRequestCreated)
        assert "photo_request.created" == event.type
        assert "dlv_1" == event.delivery_id
        assert "tenant_42" == event.tenant_id
        assert datetime(2024, 12, 25, 12, tzinfo=timezone.utc) == event.timestamp
        assert "pr_123" == event.photo_request.id
        assert PhotoRequestStatus.PENDING == event.photo_request.status
        assert datetime(2024, 12, 27, 12, tzinfo=timezone.utc) == event.photo_request.expires_at
        assert {"ticket_id": "12345"} == event.photo_request.metadata
        assert VENDOR_CREATED == event.raw_body

    @pytest.mark.parametrize(
        ("name", "cls"),
        [
            ("photo_request.created", PhotoRequestCreated),
            ("photo_request.first_viewed", PhotoRequestFirstViewed),
            ("photo_request.submitted", PhotoRequestSubmitted),
            ("photo_request.expired", PhotoRequestExpired),
        ],
    )
    def test_each_photo_request_event_has_its_class(
        self, name: str, cls: type[PhotoRequestEvent]
    ) -> None:
        """Every documented photo_request.* event parses into its own class."""
        delivery = build_delivery(name, {"photo_request": PHOTO_REQUEST}, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert cls is type(event)
        assert isinstance(event, PhotoRequestEvent)
        assert (
            PhotoRequest(
                id="pr_123",
                unique_code="ABC123",
                status=PhotoRequestStatus.IN_PROGRESS,
                metadata={"ticket_id": "12345"},
            )
            == event.photo_request
        )
        assert "pr_123" == event.photo_request_id
        assert cls is EVENT_TYPES[name]

    def test_photo_submission_created_carries_the_submission(self) -> None:
        """photo_submission.created has the photo request and a typed Submission."""
        data = {"photo_request": PHOTO_REQUEST, "submission": SUBMISSION}
        delivery = build_delivery("photo_submission.created", data, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, PhotoSubmissionCreated)
        assert event.photo_request is not None
        assert ("pr_123", "pr_123") == (event.photo_request.id, event.photo_request_id)
        assert event.smart_link is None
        assert "ps_456" == event.submission.id
        assert event.submission.has_gps_data is True
        assert 45.4642 == event.submission.gps_latitude
        assert datetime(2024, 12, 25, 14, 30, tzinfo=timezone.utc) == event.submission.submitted_at

    def test_a_smart_link_photo_submission_has_the_smart_link(self) -> None:
        """photo_submission.created through a smart link carries the link, no photo request."""
        data = {
            "smart_link": {"id": "sl_1", "custom_slug": "fleet", "tags": ["fleet"]},
            "submission": {"id": "pls_1", "unique_value": "AB-123-CD"},
        }
        delivery = build_delivery("photo_submission.created", data, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, PhotoSubmissionCreated)
        assert event.photo_request is None
        assert event.smart_link is not None
        assert ("sl_1", "fleet") == (event.smart_link.id, event.smart_link.custom_slug)
        assert ("sl_1", None) == (event.smart_link_id, event.photo_request_id)
        assert "AB-123-CD" == event.submission.unique_value

    def test_workflow_mode_submission_created(self) -> None:
        """Workflow Mode's submission.created parses into SubmissionCreated, keyed by smart link."""
        data = {
            "submission": {
                "id": "pls_9",
                "smart_link_id": "sl_1",
                "unique_value": "AB-123-CD",
                "full_name": "Ada",
            }
        }
        delivery = build_delivery("submission.created", data, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, SubmissionCreated)
        assert (
            Submission(id="pls_9", smart_link_id="sl_1", unique_value="AB-123-CD", full_name="Ada")
            == event.submission
        )
        assert event.photo_request is None
        assert "sl_1" == event.smart_link_id
        assert event.photo_request_id is None

    def test_workflow_mode_as_the_vendor_documents_it(self) -> None:
        """The documented body: the smart link under photo_request, the submission under
        permanent_link_submission, no timestamp. Typed, filed under the smart link."""
        data = {
            "photo_request": {"id": "sl_123", "custom_slug": "damage-report"},
            "permanent_link_submission": {
                "id": "pls_456",
                "unique_field_value": "ABC123",
                "external_source": "zendesk",
                "external_reference": "ticket-456",
            },
        }
        body = json.dumps({"event": "submission.created", "data": data}).encode()
        headers = {"X-Visiono-Signature": compute_signature(body, SECRET)}
        event = construct_event(body, headers, SECRET)  # the default tolerance cannot apply
        assert isinstance(event, SubmissionCreated)
        assert event.permanent_link_submission is not None
        assert event.smart_link is not None
        assert (
            "pls_456", "ABC123", "zendesk", "ticket-456", "sl_123", "damage-report"
        ) == (
            event.permanent_link_submission.id,
            event.permanent_link_submission.unique_field_value,
            event.permanent_link_submission.external_source,
            event.permanent_link_submission.external_reference,
            event.smart_link.id,
            event.smart_link.custom_slug,
        )  # fmt: skip
        assert (None, None, None) == (event.timestamp, event.photo_request, event.submission)
        assert ("sl_123", None) == (event.smart_link_id, event.photo_request_id)

    def test_workflow_mode_without_a_submission_is_invalid(self) -> None:
        """Neither permanent_link_submission nor submission: InvalidPayloadError naming it."""
        data = {"photo_request": {"id": "sl_123"}}
        delivery = build_delivery("submission.created", data, SECRET)
        with pytest.raises(InvalidPayloadError, match="permanent_link_submission"):
            construct_event(delivery.body, delivery.headers, SECRET)

    def test_a_body_without_a_timestamp_parses_with_none(self) -> None:
        """Any event may come without ``timestamp``: ``None``, and no replay window applies."""
        body = b'{"event": "x.y", "data": {}}'
        headers = {"X-Visiono-Signature": compute_signature(body, SECRET)}
        event = construct_event(body, headers, SECRET, tolerance=1)
        assert (UnknownEvent, None) == (type(event), event.timestamp)

    def test_unknown_fields_are_kept(self) -> None:
        """Keys no model declares stay available, in the model's extra and in data."""
        pr = {**PHOTO_REQUEST, "priority": "high"}
        delivery = build_delivery("photo_request.submitted", {"photo_request": pr, "x": 1}, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, PhotoRequestSubmitted)
        assert {"priority": "high"} == event.photo_request.extra
        assert 1 == event.data["x"]


class TestUnknownEvents:
    def test_an_unknown_event_parses_into_unknown_event(self) -> None:
        """A future event name does not fail: it becomes an UnknownEvent with its data."""
        data = {"photo_request": PHOTO_REQUEST, "smart_link": {"id": "sl_1"}}
        delivery = build_delivery("photo_request.archived", data, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, UnknownEvent)
        assert "photo_request.archived" == event.type
        assert event.photo_request is not None
        assert "pr_123" == event.photo_request.id
        assert {"id": "sl_1"} == event.data["smart_link"]

    def test_an_unknown_event_tolerates_odd_data(self) -> None:
        """An unknown event whose parts do not fit the models still parses, without them."""
        data = {"photo_request": "pr_123", "submission": {"no_id": True}}
        delivery = build_delivery("something.new", data, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(event, UnknownEvent)
        assert event.photo_request is None
        assert event.submission is None
        assert "pr_123" == event.data["photo_request"]


class TestReplays:
    def test_a_body_older_than_the_tolerance_is_rejected(self) -> None:
        """A signed timestamp older than the tolerance is a replay: InvalidSignatureError."""
        old = datetime.now(timezone.utc) - timedelta(seconds=DEFAULT_TOLERANCE + 60)
        delivery = build_delivery(
            "photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET, timestamp=old
        )
        with pytest.raises(StaleWebhookError, match="replay") as caught:
            construct_event(delivery.body, delivery.headers, SECRET)
        assert isinstance(caught.value, InvalidSignatureError)  # older code catching it still does
        assert DEFAULT_TOLERANCE + 59 <= caught.value.age <= DEFAULT_TOLERANCE + 70
        assert (DEFAULT_TOLERANCE, "stale_timestamp") == (
            caught.value.tolerance,
            caught.value.reason,
        )

    def test_a_body_from_the_future_is_rejected(self) -> None:
        """A timestamp further ahead than the tolerance is rejected too."""
        ahead = datetime.now(timezone.utc) + timedelta(seconds=600)
        delivery = build_delivery(
            "photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET, timestamp=ahead
        )
        with pytest.raises(InvalidSignatureError, match="in the future"):
            construct_event(delivery.body, delivery.headers, SECRET, tolerance=300)

    def test_a_retry_half_an_hour_later_is_accepted_by_default(self) -> None:
        """The default tolerance covers Visiono's 1, 5 and 30 minute retries of one body."""
        earlier = datetime.now(timezone.utc) - timedelta(minutes=36)
        delivery = build_delivery(
            "photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET, timestamp=earlier
        )
        assert isinstance(
            construct_event(delivery.body, delivery.headers, SECRET), PhotoRequestCreated
        )

    def test_the_check_can_be_turned_off(self) -> None:
        """tolerance=None accepts any timestamp (for replaying stored bodies in tests)."""
        event = construct_event(VENDOR_CREATED, signed(VENDOR_CREATED), SECRET, tolerance=None)
        assert "pr_123" == event.photo_request_id

    @pytest.mark.parametrize(
        "timestamp",
        [pytest.param(None, id="iso"), pytest.param("unix", id="unix-seconds")],
    )
    def test_timestamp_spellings(self, timestamp: str | None) -> None:
        """The timestamp may be ISO 8601 or unix seconds."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        value = int(now.timestamp()) if timestamp == "unix" else now.isoformat()
        body = body_of("photo_request.created", {"photo_request": PHOTO_REQUEST}, timestamp=value)
        assert now == construct_event(body, signed(body), SECRET).timestamp


class TestHeaders:
    def test_header_names_are_case_insensitive_in_a_plain_dict(self) -> None:
        """Lower-case header names (as ASGI servers deliver them) work in a plain dict."""
        delivery = build_delivery("photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET)
        lowered = {k.lower(): v for k, v in delivery.headers.items()}
        event = construct_event(delivery.body, lowered, SECRET)
        assert delivery.delivery_id == event.delivery_id
        assert "tenant_test" == event.tenant_id

    def test_missing_signature_header(self) -> None:
        """Without X-Visiono-Signature the delivery is rejected as unsigned."""
        delivery = build_delivery("photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET)
        headers = {k: v for k, v in delivery.headers.items() if k != "X-Visiono-Signature"}
        with pytest.raises(InvalidSignatureError, match="missing"):
            construct_event(delivery.body, headers, SECRET)

    def test_event_header_contradicting_the_signed_body(self) -> None:
        """The unsigned X-Visiono-Event header may not claim another event than the body."""
        delivery = build_delivery("photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET)
        headers = {**delivery.headers, "X-Visiono-Event": "photo_request.submitted"}
        with pytest.raises(InvalidPayloadError, match="does not match the signed body"):
            construct_event(delivery.body, headers, SECRET)

    def test_optional_headers_may_be_absent(self) -> None:
        """Delivery and tenant ids are None when their headers are absent."""
        body = body_of("photo_request.expired", {"photo_request": PHOTO_REQUEST})
        event = construct_event(body, signed(body), SECRET)
        assert isinstance(event, PhotoRequestExpired)
        assert event.delivery_id is None
        assert event.tenant_id is None


class TestMalformedBodies:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            pytest.param(b"{not json", "not valid JSON", id="not-json"),
            pytest.param(b"\xff\xfe\x00", "not valid JSON", id="not-utf8"),
            pytest.param(b"[1, 2]", "must be a JSON object, got list", id="array"),
            pytest.param(b'{"timestamp": 1, "data": {}}', "'event' is missing", id="no-event"),
            pytest.param(b'{"event": 7, "timestamp": 1}', "'event' must be", id="event-int"),
            pytest.param(
                b'{"event": "x.y", "timestamp": "soon"}', "'timestamp' is invalid", id="bad-ts"
            ),
        ],
    )
    def test_undecodable_bodies(self, body: bytes, message: str) -> None:
        """A signed body without the documented envelope is an InvalidPayloadError."""
        with pytest.raises(InvalidPayloadError, match=message):
            construct_event(body, signed(body), SECRET, tolerance=None)

    @pytest.mark.parametrize(
        ("event", "data", "message"),
        [
            pytest.param("photo_request.submitted", {}, "'data.photo_request' is missing", id="pr"),
            pytest.param(
                "photo_request.submitted",
                {"photo_request": {"status": "submitted"}},
                "'data.photo_request' is invalid",
                id="pr-without-id",
            ),
            pytest.param(
                "photo_request.created",
                {"photo_request": {"id": "pr_1", "expires_at": "tomorrow"}},
                "'data.photo_request' is invalid.*expires_at",
                id="pr-bad-datetime",
            ),
            pytest.param(
                "photo_submission.created",
                {"photo_request": PHOTO_REQUEST},
                "'data.submission' is missing",
                id="submission",
            ),
            pytest.param(
                "photo_submission.created",
                {"photo_request": PHOTO_REQUEST, "submission": ["ps_1"]},
                "'data.submission' is invalid",
                id="submission-list",
            ),
            pytest.param(
                "photo_submission.created",
                {"submission": {"id": "ps_1"}, "smart_link": "sl_1"},
                "'data.smart_link' is invalid",
                id="smart-link-string",
            ),
            pytest.param("photo_request.created", [1], "'data' must be a JSON object", id="data"),
        ],
    )
    def test_missing_or_wrong_typed_fields(self, event: str, data: Any, message: str) -> None:
        """A known event missing a part, or with a part of the wrong type, names the field."""
        body = body_of(event, data)
        with pytest.raises(InvalidPayloadError, match=message):
            construct_event(body, signed(body), SECRET)

    def test_the_signature_is_checked_before_the_body(self) -> None:
        """An unsigned garbage body is a signature problem, not a payload problem."""
        with pytest.raises(InvalidSignatureError):
            construct_event(b"{not json", {"X-Visiono-Signature": "sha256=" + "0" * 64}, SECRET)


class TestEventObjects:
    def test_repr_hides_the_raw_body(self) -> None:
        """An event's repr shows what it is about, not its whole body."""
        delivery = build_delivery("photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET)
        event = construct_event(delivery.body, delivery.headers, SECRET)
        assert "PhotoRequestCreated(" in repr(event)
        assert "raw_body" not in repr(event)

    def test_digest_identifies_the_body(self) -> None:
        """The digest depends on the body only, not on the delivery headers."""
        delivery = build_delivery("photo_request.created", {"photo_request": PHOTO_REQUEST}, SECRET)
        first = construct_event(delivery.body, delivery.headers, SECRET)
        again: WebhookEvent = construct_event(
            delivery.body, {**delivery.headers, "X-Visiono-Delivery": "dlv_other"}, SECRET
        )
        assert first.digest == again.digest
        assert 64 == len(first.digest)
