"""Smart links: permanent, reusable upload pages (for fleets, check-ins, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import Model
from .photo_requests import PhotoRequestItem

__all__ = ["PermanentLinkSubmission", "SmartLink"]


@attrs.frozen
class SmartLink(Model):
    """A smart link (``sl_...``): a permanent upload page that anyone with the link can use.

    Attributes:
        id: The smart link id (``sl_...``).
        unique_code: The short code in the link's URL.
        custom_slug: Your own slug for the URL (``"fleet-inspection"``).
        name: Your name for the link.
        is_active: False once archived.
        instructions: The instructions shown to submitters.
        unique_field_label: The label of the field each submitter fills in
            (``"License Plate"``); its value arrives as ``Submission.unique_value``.
        show_full_name_field: Whether submitters are asked for their name.
        full_name_required: Whether that name is required.
        require_gps: Whether photos must carry GPS data.
        request_url: The upload page.
        submissions_count: How many photos have been uploaded.
        tags: Your labels, usable as a ``list`` filter.
        items: The photos asked for.
        created_at: When it was created.
        updated_at: When it last changed.
        archived_at: When it was archived, if it was.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    unique_code: str | None = None
    custom_slug: str | None = None
    name: str | None = None
    is_active: bool | None = None
    instructions: str | None = None
    unique_field_label: str | None = None
    show_full_name_field: bool | None = None
    full_name_required: bool | None = None
    require_gps: bool | None = None
    request_url: str | None = None
    submissions_count: int | None = None
    tags: list[str] = attrs.field(factory=list)
    items: list[PhotoRequestItem] = attrs.field(factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived_at: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PermanentLinkSubmission(Model):
    """A submission through a smart link in Workflow Mode (``pls_...``), as the
    ``submission.created`` webhook carries it.

    Attributes:
        id: The submission id (``pls_...``).
        unique_field_value: The value the submitter entered in the link's unique field
            (the ``uv`` of the signed entry link).
        external_source: The ``src`` of the signed entry link (``"zendesk"``).
        external_reference: The ``ref`` of the signed entry link (``"ticket-456"``).
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    unique_field_value: str | None = None
    external_source: str | None = None
    external_reference: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
