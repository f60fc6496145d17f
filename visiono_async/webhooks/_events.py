"""Typed webhook events, and parsing a (verified) body into one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import attrs

from .._converter import parse_datetime, structure
from ..models.photo_requests import PhotoRequest
from ..models.smart_links import PermanentLinkSubmission, SmartLink
from ..models.submissions import Submission
from ._errors import InvalidPayloadError

__all__ = [
    "EVENT_TYPES",
    "PhotoRequestCreated",
    "PhotoRequestEvent",
    "PhotoRequestExpired",
    "PhotoRequestFirstViewed",
    "PhotoRequestSubmitted",
    "PhotoSubmissionCreated",
    "SubmissionCreated",
    "UnknownEvent",
    "WebhookEvent",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """A verified webhook delivery. Concrete events subclass it; match on the class.

    Attributes:
        type: The event name from the signed body (``"photo_request.submitted"``).
        delivery_id: The ``X-Visiono-Delivery`` header (``"dlv_..."``), if sent. It is not
            covered by the signature.
        tenant_id: The ``X-Visiono-Tenant-Id`` header, if sent (not signed either).
        timestamp: The body's signed ``timestamp``, aware UTC; ``None`` when the body has
            none (Visiono documents Workflow Mode's ``submission.created`` without one).
        data: The body's ``data`` object as received, including keys no model declares.
        raw_body: The exact bytes that were verified.
    """

    EVENT_TYPE: ClassVar[str | None] = None

    type: str
    delivery_id: str | None = None
    tenant_id: str | None = None
    timestamp: datetime | None
    data: Mapping[str, Any] = attrs.field(repr=False)
    raw_body: bytes = attrs.field(repr=False)

    @property
    def digest(self) -> str:
        """The hex SHA-256 of :attr:`raw_body`: the same body always has the same digest."""
        return hashlib.sha256(self.raw_body).hexdigest()

    @property
    def photo_request_id(self) -> str | None:
        """The id of the photo request the event is about, if it names one."""
        named = _id_in(self.data, "photo_request", "id")
        if named is not None and named.startswith(_SMART_LINK_PREFIX):
            named = None  # Workflow Mode puts the smart link under photo_request
        return named or _id_in(self.data, "submission", "photo_request_id")

    @property
    def smart_link_id(self) -> str | None:
        """The id of the smart link the event is about, if it names one."""
        under_photo_request = _id_in(self.data, "photo_request", "id")
        if under_photo_request is not None and not under_photo_request.startswith(
            _SMART_LINK_PREFIX
        ):
            under_photo_request = None
        return (
            _id_in(self.data, "smart_link", "id")
            or under_photo_request
            or _id_in(self.data, "submission", "smart_link_id")
        )


@attrs.frozen(kw_only=True)
class PhotoRequestEvent(WebhookEvent):
    """The common shape of the ``photo_request.*`` events.

    Attributes:
        photo_request: The photo request, as partial as the event sends it.
    """

    photo_request: PhotoRequest

    @property
    def photo_request_id(self) -> str:
        """The photo request's id."""
        return self.photo_request.id


@attrs.frozen(kw_only=True)
class PhotoRequestCreated(PhotoRequestEvent):
    """``photo_request.created``: a new photo request exists."""

    EVENT_TYPE: ClassVar[str | None] = "photo_request.created"


@attrs.frozen(kw_only=True)
class PhotoRequestFirstViewed(PhotoRequestEvent):
    """``photo_request.first_viewed``: the recipient opened the link for the first time."""

    EVENT_TYPE: ClassVar[str | None] = "photo_request.first_viewed"


@attrs.frozen(kw_only=True)
class PhotoSubmissionCreated(WebhookEvent):
    """``photo_submission.created``: one photo was uploaded.

    To a photo request (``photo_request`` is set, as in the vendor's example) or through a
    smart link (``smart_link`` is set instead).

    Attributes:
        submission: The uploaded photo.
        photo_request: The photo request it was uploaded to, if any.
        smart_link: The smart link it was uploaded through, if any.
    """

    EVENT_TYPE: ClassVar[str | None] = "photo_submission.created"

    submission: Submission
    photo_request: PhotoRequest | None = None
    smart_link: SmartLink | None = None


@attrs.frozen(kw_only=True)
class PhotoRequestSubmitted(PhotoRequestEvent):
    """``photo_request.submitted``: every required photo has been uploaded."""

    EVENT_TYPE: ClassVar[str | None] = "photo_request.submitted"


@attrs.frozen(kw_only=True)
class PhotoRequestExpired(PhotoRequestEvent):
    """``photo_request.expired``: the request expired without being completed."""

    EVENT_TYPE: ClassVar[str | None] = "photo_request.expired"


@attrs.frozen(kw_only=True)
class SubmissionCreated(WebhookEvent):
    """``submission.created`` (Workflow Mode): a submission arrived through a smart link.

    As Visiono documents it, ``data.photo_request`` is the smart link (an ``sl_`` id and
    its ``custom_slug``), ``data.permanent_link_submission`` the submission, and the body
    has no ``timestamp`` (so no replay window applies; the event stores' de-duplication
    by delivery id and body digest still does). A ``data.submission`` object, or a
    ``data.smart_link`` object, is read too where a body carries one.

    Attributes:
        permanent_link_submission: The submission (``pls_...``) with the link's unique
            field value and the entry link's ``external_source``/``external_reference``.
        smart_link: The smart link (from ``data.smart_link``, or the ``sl_`` object under
            ``data.photo_request``), as partial as the event sends it.
        submission: ``data.submission``, when the body has it.
        photo_request: A real photo request (``pr_``) under ``data.photo_request``, if any.
    """

    EVENT_TYPE: ClassVar[str | None] = "submission.created"

    permanent_link_submission: PermanentLinkSubmission | None = None
    smart_link: SmartLink | None = None
    submission: Submission | None = None
    photo_request: PhotoRequest | None = None


@attrs.frozen(kw_only=True)
class UnknownEvent(WebhookEvent):
    """An event this version of the SDK does not know; ``data`` has everything.

    Attributes:
        photo_request: ``data.photo_request`` when present and well-formed.
        submission: ``data.submission`` when present and well-formed.
        smart_link: ``data.smart_link`` when present and well-formed.
    """

    photo_request: PhotoRequest | None = None
    submission: Submission | None = None
    smart_link: SmartLink | None = None


EVENT_TYPES: Mapping[str, type[WebhookEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        PhotoRequestCreated,
        PhotoRequestFirstViewed,
        PhotoSubmissionCreated,
        PhotoRequestSubmitted,
        PhotoRequestExpired,
        SubmissionCreated,
    )
    if cls.EVENT_TYPE is not None
}
"""Every event name the SDK knows, mapped to its class."""


_SMART_LINK_PREFIX = "sl_"


def _id_in(data: Mapping[str, Any], key: str, field: str) -> str | None:
    obj = data.get(key)
    value = obj.get(field) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) and value else None


def _required(data: Mapping[str, Any], key: str, cls: type[T]) -> T:
    if data.get(key) is None:
        raise InvalidPayloadError(f"webhook field 'data.{key}' is missing")
    try:
        return structure(data[key], cls)
    except ValueError as exc:
        raise InvalidPayloadError(f"webhook field 'data.{key}' is invalid: {exc}") from None


def _present(data: Mapping[str, Any], key: str, cls: type[T]) -> T | None:
    # Optional in a known event, but checked when sent: a malformed part is a sender bug.
    return None if data.get(key) is None else _required(data, key, cls)


def _optional(data: Mapping[str, Any], key: str, cls: type[T]) -> T | None:
    # Optional parts are best effort: the raw value stays in ``data`` either way.
    if data.get(key) is None:
        return None
    try:
        return structure(data[key], cls)
    except ValueError:
        return None


def decode_body(raw_body: bytes) -> tuple[dict[str, Any], datetime | None]:
    """The body's JSON object and its signed timestamp (``None`` when it has none).

    Raises:
        InvalidPayloadError: The body is not a JSON object, its ``event`` is missing or of
            the wrong type, or its ``timestamp`` is not a date-time.
    """
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayloadError(f"webhook body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidPayloadError(f"webhook body must be a JSON object, got {type(body).__name__}")
    event_type = body.get("event")
    if not isinstance(event_type, str) or not event_type:
        problem = "is missing" if event_type is None else "must be a non-empty string"
        raise InvalidPayloadError(f"webhook field 'event' {problem}")
    if body.get("timestamp") is None:
        return body, None  # Workflow Mode's submission.created, as documented, has none
    try:
        timestamp = parse_datetime(body["timestamp"])
    except ValueError as exc:
        raise InvalidPayloadError(f"webhook field 'timestamp' is invalid: {exc}") from None
    return body, timestamp


def parse_event(
    raw_body: bytes,
    *,
    delivery_id: str | None = None,
    tenant_id: str | None = None,
) -> WebhookEvent:
    """Parse a body that has already been verified (or was stored after verification).

    Raises:
        InvalidPayloadError: The body does not have the documented shape.
    """
    body, timestamp = decode_body(raw_body)
    return build_event(body, timestamp, raw_body, delivery_id=delivery_id, tenant_id=tenant_id)


def build_event(
    body: Mapping[str, Any],
    timestamp: datetime | None,
    raw_body: bytes,
    *,
    delivery_id: str | None,
    tenant_id: str | None,
) -> WebhookEvent:
    """The typed event for a body decoded by :func:`decode_body`."""
    event_type: str = body["event"]
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise InvalidPayloadError(
            f"webhook field 'data' must be a JSON object, got {type(data).__name__}"
        )
    common: dict[str, Any] = {
        "type": event_type,
        "delivery_id": delivery_id,
        "tenant_id": tenant_id,
        "timestamp": timestamp,
        "data": data,
        "raw_body": bytes(raw_body),
    }
    cls = EVENT_TYPES.get(event_type, UnknownEvent)
    if issubclass(cls, PhotoRequestEvent):
        return cls(photo_request=_required(data, "photo_request", PhotoRequest), **common)
    if cls is SubmissionCreated:
        return _submission_created(data, common)
    if issubclass(cls, PhotoSubmissionCreated):
        return cls(
            submission=_required(data, "submission", Submission),
            photo_request=_present(data, "photo_request", PhotoRequest),
            smart_link=_present(data, "smart_link", SmartLink),
            **common,
        )
    return UnknownEvent(
        photo_request=_optional(data, "photo_request", PhotoRequest),
        submission=_optional(data, "submission", Submission),
        smart_link=_optional(data, "smart_link", SmartLink),
        **common,
    )


def _submission_created(data: Mapping[str, Any], common: dict[str, Any]) -> SubmissionCreated:
    """Workflow Mode's event, from the documented shape (or the older ``submission`` one)."""
    under_photo_request = data.get("photo_request")
    link_id = under_photo_request.get("id") if isinstance(under_photo_request, Mapping) else None
    is_link = isinstance(link_id, str) and link_id.startswith(_SMART_LINK_PREFIX)
    smart_link = _present(data, "smart_link", SmartLink)
    if smart_link is None and is_link:
        smart_link = _required(data, "photo_request", SmartLink)
    event = SubmissionCreated(
        permanent_link_submission=_present(
            data, "permanent_link_submission", PermanentLinkSubmission
        ),
        smart_link=smart_link,
        submission=_present(data, "submission", Submission),
        photo_request=None if is_link else _present(data, "photo_request", PhotoRequest),
        **common,
    )
    if event.permanent_link_submission is None and event.submission is None:
        raise InvalidPayloadError(
            "webhook field 'data.permanent_link_submission' is missing (and there is no "
            "'data.submission' either)"
        )
    return event
