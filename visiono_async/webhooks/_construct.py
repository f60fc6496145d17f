"""``construct_event``: verify a delivery and turn it into a typed event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from .._exceptions import StaleWebhookError
from ._errors import InvalidPayloadError
from ._events import WebhookEvent, build_event, decode_body
from ._signature import SIGNATURE_HEADER, verify_signature

__all__ = [
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "TENANT_HEADER",
    "construct_event",
    "get_header",
]

EVENT_HEADER = "X-Visiono-Event"
DELIVERY_HEADER = "X-Visiono-Delivery"
TENANT_HEADER = "X-Visiono-Tenant-Id"

DEFAULT_TOLERANCE = 3600.0
"""Seconds a body's signed ``timestamp`` may lie from now.

An hour: Visiono retries a failed delivery after 1, 5 and 30 minutes, and a retry that
resends the original body must still be accepted 36 minutes after the event. Replays inside
the window are caught by an event store's body-digest de-duplication.
"""


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name, from any mapping of headers."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def construct_event(
    raw_body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> WebhookEvent:
    """Verify a webhook delivery and return its typed event.

    Args:
        raw_body: The exact bytes of the request body.
        headers: The request headers, any mapping (names are matched case-insensitively).
        secret: The endpoint's signing secret.
        tolerance: Seconds the body's signed ``timestamp`` may be from now before the
            delivery is rejected as a replay; ``None`` turns the check off.

    Returns:
        A :class:`PhotoRequestCreated`, :class:`PhotoRequestFirstViewed`,
        :class:`PhotoSubmissionCreated`, :class:`PhotoRequestSubmitted`,
        :class:`PhotoRequestExpired`, :class:`SubmissionCreated`, or an
        :class:`UnknownEvent` for an event name this version does not know.

    Raises:
        InvalidSignatureError: The signature is missing, malformed or wrong.
        StaleWebhookError: The signature is right but the signed timestamp is outside
            ``tolerance`` (a replay, or a clock far off); an ``InvalidSignatureError``.
        InvalidPayloadError: The body is not JSON, lacks ``event``/``timestamp``/``data``
            parts its event needs, has a field of the wrong type, or names a different
            event than the ``X-Visiono-Event`` header.
    """
    verify_signature(raw_body, get_header(headers, SIGNATURE_HEADER), secret)
    body, timestamp = decode_body(raw_body)
    if tolerance is not None and timestamp is not None:  # no timestamp: no window to apply
        age = (datetime.now(timezone.utc) - timestamp).total_seconds()
        if abs(age) > tolerance:
            when = "old" if age > 0 else "in the future"
            raise StaleWebhookError(
                f"the webhook's signed timestamp is {abs(age):.0f} seconds {when}, outside the "
                f"{tolerance:g} second tolerance; rejected as a possible replay",
                age=age,
                tolerance=tolerance,
            )
    header_event = get_header(headers, EVENT_HEADER)
    if header_event is not None and header_event != body["event"]:
        raise InvalidPayloadError(
            f"the {EVENT_HEADER} header ({header_event!r}) does not match the signed body's "
            f"event ({body['event']!r})"
        )
    return build_event(
        body,
        timestamp,
        raw_body,
        delivery_id=get_header(headers, DELIVERY_HEADER),
        tenant_id=get_header(headers, TENANT_HEADER),
    )
