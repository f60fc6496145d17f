"""Photo requests: one-off, expiring requests for a set of photos from one recipient."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from ._base import Model

__all__ = ["PhotoRequest", "PhotoRequestItem", "PhotoRequestStatus"]


class PhotoRequestStatus(str, enum.Enum):
    """The life-cycle state of a photo request.

    Members compare equal to their wire values (``PhotoRequestStatus.PENDING == "pending"``).
    Fields typed ``PhotoRequestStatus | str`` hold a plain ``str`` when the API sends a state
    this version of the SDK does not know.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class PhotoRequestItem(Model):
    """One photo asked for in a photo request or a smart link.

    Attributes:
        id: The item id (``pri_...``).
        instructions: What to photograph.
        is_required: Whether the request is complete without this photo.
        position: The item's place in the list, when the API sends it.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    instructions: str | None = None
    is_required: bool | None = None
    position: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PhotoRequest(Model):
    """A photo request (``pr_...``).

    Every field but ``id`` may be missing: webhook events carry partial photo requests.

    Attributes:
        id: The photo request id (``pr_...``).
        unique_code: The short code in the request URL (``"ABC123"``); ``get`` accepts it.
        numeric_code: The code a recipient can type at ``code_entry_url``.
        status: A ``PhotoRequestStatus``, or the raw string for a state the SDK does not know.
        instructions: The instructions shown to the recipient.
        recipient_email: Where the request was sent, if anywhere.
        request_url: The page where the recipient uploads the photos.
        code_entry_url: The page where a numeric code can be typed instead.
        expires_at: When the request expires.
        created_at: When it was created.
        updated_at: When it last changed.
        submitted_at: When every required photo had been uploaded.
        viewed_at: When the recipient first opened the request.
        require_gps: Whether photos must carry GPS data.
        allow_submitter_notes: Whether the recipient may add a note.
        internal_notes: Notes for your team, never shown to the recipient.
        submissions_count: How many photos have been uploaded.
        metadata: Your own key/value data, returned as sent.
        items: The photos asked for.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    unique_code: str | None = None
    numeric_code: str | None = None
    status: PhotoRequestStatus | str | None = None
    instructions: str | None = None
    recipient_email: str | None = None
    request_url: str | None = None
    code_entry_url: str | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    viewed_at: datetime | None = None
    require_gps: bool | None = None
    allow_submitter_notes: bool | None = None
    internal_notes: str | None = None
    submissions_count: int | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    items: list[PhotoRequestItem] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)
