"""Error bodies in every shape Visiono (or a proxy in front of it) sends become typed errors."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visiono_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from visiono_async._ratelimit import RateLimitInfo, parse_retry_after
from visiono_async._session import build_api_error, encode_params


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


class TestShapes:
    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
            (422, ValidationError),
            (429, RateLimitError),
            (500, ServerError),
            (503, ServerError),
            (418, APIError),
        ],
        ids=lambda v: str(v) if isinstance(v, int) else v.__name__,
    )
    def test_status_picks_the_class(self, status: int, cls: type[APIError]) -> None:
        """Each documented status has its class; others are plain APIError."""
        err = build_api_error(status, body({"error": {"code": "x", "message": "m"}}), {})
        assert cls is type(err)
        assert status == err.status_code

    def test_standard_shape(self) -> None:
        """{"error": {code, message, details}} fills code, message, details and request id."""
        raw = body(
            {
                "error": {
                    "code": "validation_error",
                    "message": "The given data was invalid.",
                    "details": {"instructions": ["The instructions field is required."]},
                },
                "meta": {"request_id": "req_abc123"},
            }
        )
        err = build_api_error(422, raw, {}, method="POST", path="/photo-requests")
        assert isinstance(err, ValidationError)
        assert "validation_error" == err.code
        assert "The given data was invalid." == err.message
        assert {"instructions": ["The instructions field is required."]} == err.errors
        assert "req_abc123" == err.request_id
        assert "POST /photo-requests" in str(err)
        assert "instructions: The instructions field is required." in str(err)

    def test_framework_shape(self) -> None:
        """The free plan's {message, errors} shape fills message and errors."""
        raw = body(
            {
                "message": "The recipient email field is prohibited.",
                "errors": {
                    "recipient_email": ["Email features are not available on the free plan."]
                },
            }
        )
        err = build_api_error(422, raw, {"X-Request-Id": "req_h"})
        assert isinstance(err, ValidationError)
        assert "validation_error" == err.code
        assert "The recipient email field is prohibited." == err.message
        assert ["Email features are not available on the free plan."] == err.errors[
            "recipient_email"
        ]
        assert "req_h" == err.request_id

    def test_details_of_odd_types_become_string_lists(self) -> None:
        """A detail that is a bare string or a number is kept as a one-element list of str."""
        raw = body({"error": {"code": "c", "message": "m", "details": {"a": "one", "b": [1, 2]}}})
        err = build_api_error(422, raw, {})
        assert {"a": ["one"], "b": ["1", "2"]} == err.details

    def test_html_body(self) -> None:
        """An HTML page is described (content type and text), not parsed."""
        raw = b"<html><head><title>502</title></head><body><h1>Bad Gateway</h1></body></html>"
        err = build_api_error(502, raw, {"Content-Type": "text/html"})
        assert isinstance(err, ServerError)
        assert "non-JSON body (text/html)" in err.message
        assert "Bad Gateway" in err.message
        assert "<h1>" not in err.message

    def test_empty_body_uses_the_status_phrase(self) -> None:
        """An empty 404 still has a message."""
        err = build_api_error(404, b"", {})
        assert "Not Found" == err.message

    def test_secret_is_redacted_from_a_echoed_body(self) -> None:
        """A proxy page that echoes the key does not leak it into the message."""
        err = build_api_error(500, b"<p>bad key vsk_test_xyz</p>", {}, secret="vsk_test_xyz")
        assert "vsk_test_xyz" not in str(err)
        assert "<redacted>" in err.message

    @given(st.binary(max_size=300))
    def test_any_bytes_give_an_api_error(self, raw: bytes) -> None:
        """Whatever the body, the result is an APIError with a message, never an exception."""
        err = build_api_error(500, raw, {"Content-Type": "application/octet-stream"})
        assert isinstance(err, ServerError)
        assert err.message


class TestRequiredScope:
    def test_from_details(self) -> None:
        """The scope named in details.scope wins."""
        raw = body(
            {
                "error": {
                    "code": "insufficient_scope",
                    "message": "nope",
                    "details": {"scope": ["webhooks:write"]},
                }
            }
        )
        err = build_api_error(403, raw, {})
        assert isinstance(err, PermissionDeniedError)
        assert "webhooks:write" == err.required_scope

    def test_from_the_message(self) -> None:
        """Without structured details the scope is read from the message."""
        raw = body({"error": {"code": "forbidden", "message": "Missing scope download_urls:read"}})
        err = build_api_error(403, raw, {})
        assert isinstance(err, PermissionDeniedError)
        assert "download_urls:read" == err.required_scope

    def test_absent(self) -> None:
        """A 403 that names no scope has required_scope None."""
        err = build_api_error(403, body({"error": {"message": "Forbidden"}}), {})
        assert isinstance(err, PermissionDeniedError)
        assert err.required_scope is None


class TestRetryAfter:
    def test_seconds(self) -> None:
        """Retry-After in seconds becomes retry_after."""
        err = build_api_error(429, b"{}", {"Retry-After": "12"})
        assert isinstance(err, RateLimitError)
        assert 12.0 == err.retry_after

    def test_http_date(self) -> None:
        """Retry-After as an HTTP date is converted to seconds from now."""
        wait = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
        assert wait is not None
        assert 25 <= wait <= 31

    def test_reset_header_when_remaining_is_zero(self) -> None:
        """Without Retry-After, a used-up window's X-RateLimit-Reset gives retry_after."""
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 20)}
        err = build_api_error(429, b"{}", headers)
        assert isinstance(err, RateLimitError)
        assert err.retry_after is not None
        assert 15 <= err.retry_after <= 21

    @pytest.mark.parametrize("value", ["", "soon", "-5"])
    def test_garbage(self, value: str) -> None:
        """An unparseable or negative Retry-After is ignored or clamped, never an exception."""
        wait = parse_retry_after(value)
        assert wait is None or wait == 0.0

    def test_rate_limit_headers_with_garbage(self) -> None:
        """Unparseable X-RateLimit-* values are dropped, the rest kept."""
        info = RateLimitInfo.from_headers(
            {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "many"}
        )
        assert info is not None
        assert (60, None, None) == (info.limit, info.remaining, info.reset)
        assert RateLimitInfo.from_headers({}) is None


class TestEncodeParams:
    def test_values(self) -> None:
        """None is dropped; bools, datetimes, lists and enums are encoded as the API expects."""
        from datetime import datetime, timezone

        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        naive = datetime(2026, 1, 2, 3, 4, 5)
        params = {"a": None, "b": True, "c": when, "d": ["x", "y"], "e": 3, "f": naive}
        assert [
            ("b", "true"),
            ("c", "2026-01-02T03:04:05+00:00"),
            ("d", "x,y"),
            ("e", "3"),
            ("f", "2026-01-02T03:04:05+00:00"),
        ] == encode_params(params)
