"""Signed download URLs for the photos of a photo request or a smart link."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ._base import Model

__all__ = ["DownloadURL", "DownloadURLs"]


@attrs.frozen
class DownloadURL(Model):
    """The signed URLs of one uploaded photo.

    Attributes:
        id: The submission id (``ps_...``).
        item_id: The item (``pri_...``) the photo answers.
        download_url: The signed URL of the full-size file.
        thumbnail_url: The signed URL of a thumbnail.
        file_size_kb: The file size in KiB.
        mime_type: The file's media type (``"image/jpeg"``).
        has_gps_data: Whether the photo carries a GPS position.
        gps_latitude: Latitude in degrees (absent without GPS data).
        gps_longitude: Longitude in degrees (absent without GPS data).
        submitted_at: When the photo was uploaded.
        unique_value: The value of a smart link's unique field (smart links only).
        full_name: The submitter's name (smart links only).
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    item_id: str | None = None
    download_url: str | None = None
    thumbnail_url: str | None = None
    file_size_kb: int | None = None
    mime_type: str | None = None
    has_gps_data: bool | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    submitted_at: datetime | None = None
    unique_value: str | None = None
    full_name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class DownloadURLs(Model):
    """The signed URLs of every photo of a photo request or a smart link, and their expiry.

    Attributes:
        photo_request_id: The photo request, for a photo request's URLs.
        smart_link_id: The smart link, for a smart link's URLs.
        submissions: One entry per uploaded photo.
        expires_in_seconds: How long the URLs stay valid, counted from ``fetched_at``.
        urls_valid_for: The API's human-readable validity (``"24 hours"``).
        fetched_at: When the response arrived (aware, UTC).
        extra: JSON keys this version of the SDK does not know, as received.
    """

    photo_request_id: str | None = None
    smart_link_id: str | None = None
    submissions: list[DownloadURL] = attrs.field(factory=list)
    expires_in_seconds: int | None = None
    urls_valid_for: str | None = None
    fetched_at: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def expires_at(self) -> datetime | None:
        """When the URLs stop working: ``fetched_at + expires_in_seconds``, None if unknown."""
        if self.fetched_at is None or self.expires_in_seconds is None:
            return None
        return self.fetched_at + timedelta(seconds=self.expires_in_seconds)

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        """Whether the URLs expire within ``seconds`` of ``now`` (or have expired already).

        Args:
            seconds: The margin, e.g. how long a download is expected to take.
            now: The reference time (naive values are taken as UTC); the current time when
                omitted.

        Returns:
            True when ``expires_at`` is at or before ``now + seconds``; False when the
            expiry is unknown.
        """
        expires_at = self.expires_at
        if expires_at is None:
            return False
        if now is None:
            now = datetime.now(timezone.utc)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return expires_at <= now + timedelta(seconds=seconds)
