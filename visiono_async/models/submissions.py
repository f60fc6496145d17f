"""Submissions: the photos uploaded to a photo request or a smart link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import Model

__all__ = ["Submission"]


@attrs.frozen
class Submission(Model):
    """One uploaded photo (``ps_...``, or ``pls_...`` for a permanent link).

    Every field but ``id`` may be missing: webhook events carry partial submissions.

    Attributes:
        id: The submission id.
        item_id: The item (``pri_...``) the photo answers.
        photo_request_id: The photo request it belongs to, when it belongs to one.
        smart_link_id: The smart link it belongs to, when it belongs to one.
        file_size_kb: The file size in KiB.
        mime_type: The file's media type (``"image/jpeg"``).
        has_gps_data: Whether the photo carries a GPS position.
        gps_latitude: Latitude in degrees, when the photo has GPS data.
        gps_longitude: Longitude in degrees, when the photo has GPS data.
        file_name: The uploaded file's name.
        submitter_notes: The note the recipient added, if any.
        unique_value: The value of a smart link's unique field (a licence plate, ...).
        full_name: The submitter's name, when a smart link asked for it.
        submitted_at: When the photo was uploaded.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    item_id: str | None = None
    photo_request_id: str | None = None
    smart_link_id: str | None = None
    file_size_kb: int | None = None
    mime_type: str | None = None
    has_gps_data: bool | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    file_name: str | None = None
    submitter_notes: str | None = None
    unique_value: str | None = None
    full_name: str | None = None
    submitted_at: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
