"""Permanent links: the older name, and endpoints, of the smart-link concept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import Model
from .photo_requests import PhotoRequestItem

__all__ = ["PermanentLink"]


@attrs.frozen
class PermanentLink(Model):
    """A permanent link: a reusable upload page, in the vocabulary of ``/permanent-links``.

    It is the same object as a smart link under older names (``slug`` for ``custom_slug``,
    ``url`` for ``request_url``); its submissions have ``pls_...`` ids.

    Attributes:
        id: The permanent link id.
        name: Your name for the link.
        instructions: The instructions shown to submitters.
        slug: The link's path segment.
        url: The upload page.
        is_active: Whether the link accepts uploads.
        require_gps: Whether photos must carry GPS data.
        submissions_count: How many photos have been uploaded.
        tags: Your labels.
        items: The photos asked for.
        created_at: When it was created.
        updated_at: When it last changed.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    name: str | None = None
    instructions: str | None = None
    slug: str | None = None
    url: str | None = None
    is_active: bool | None = None
    require_gps: bool | None = None
    submissions_count: int | None = None
    tags: list[str] = attrs.field(factory=list)
    items: list[PhotoRequestItem] = attrs.field(factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
