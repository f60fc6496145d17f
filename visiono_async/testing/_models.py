"""The emulator's in-memory records and the fixed vocabularies (scopes, plans, events)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "EVENTS",
    "PHOTO_REQUEST_STATUSES",
    "PLANS",
    "SCOPES",
    "ApiKeyRecord",
    "Item",
    "PhotoRequest",
    "Plan",
    "SmartLink",
    "Submission",
    "WebhookEndpoint",
]

SCOPES: tuple[str, ...] = (
    "photo_requests:read",
    "photo_requests:write",
    "submissions:read",
    "download_urls:read",
    "smart_links:read",
    "smart_links:write",
    "webhooks:read",
    "webhooks:write",
)

PHOTO_REQUEST_STATUSES: tuple[str, ...] = (
    "pending",
    "in_progress",
    "submitted",
    "expired",
    "cancelled",
)

EVENTS: dict[str, str] = {
    "photo_request.created": "A new photo request was created.",
    "photo_request.first_viewed": "The recipient opened the photo request link.",
    "photo_submission.created": "A single photo was uploaded.",
    "photo_request.submitted": "Every required photo of the request was uploaded.",
    "photo_request.expired": "The photo request expired without being completed.",
    "submission.created": "A submission arrived through a smart link in Workflow Mode.",
}


@attrs.frozen
class Plan:
    """What a plan allows; quotas are reported by ``/stats``, not enforced."""

    name: str
    email_enabled: bool
    photo_limit: int
    is_lifetime_quota: bool


PLANS: dict[str, Plan] = {
    "free": Plan("free", email_enabled=False, photo_limit=100, is_lifetime_quota=True),
    "pro": Plan("pro", email_enabled=True, photo_limit=1_000, is_lifetime_quota=False),
    "business": Plan("business", email_enabled=True, photo_limit=10_000, is_lifetime_quota=False),
}


@attrs.define
class ApiKeyRecord:
    """An API key's grants; the key itself is only the lookup key of the store."""

    scopes: frozenset[str]
    plan: Plan
    revoked: bool = False


@attrs.define
class Item:
    """One photo asked for by a photo request or a smart link."""

    id: str
    instructions: str
    is_required: bool


@attrs.define
class Submission:
    """One uploaded photo and where its bytes live in storage."""

    id: str
    parent_id: str
    item_id: str
    size: int
    mime_type: str
    gps: tuple[float, float] | None
    submitted_at: float
    file_name: str
    original_key: str
    thumbnail_key: str
    unique_value: str | None = None
    full_name: str | None = None

    @property
    def on_smart_link(self) -> bool:
        """Whether the photo came through a smart link rather than a photo request."""
        return self.parent_id.startswith("sl_")


@attrs.define
class PhotoRequest:
    """An expiring request for photos, sent to one recipient."""

    id: str
    unique_code: str
    numeric_code: str
    instructions: str
    recipient_email: str | None
    expires_at: float
    created_at: float
    metadata: dict[str, Any]
    internal_notes: str | None
    require_gps: bool
    allow_submitter_notes: bool
    items: list[Item]
    status: str = "pending"
    submissions: list[Submission] = attrs.field(factory=list)
    submitted_at: float | None = None
    viewed_at: float | None = None
    cancelled_at: float | None = None


@attrs.define
class SmartLink:
    """A permanent collection link (``/smart-links``; ``/permanent-links`` is its older name)."""

    id: str
    unique_code: str
    custom_slug: str | None
    name: str | None
    instructions: str
    unique_field_label: str | None
    show_full_name_field: bool
    full_name_required: bool
    require_gps: bool
    tags: list[str]
    items: list[Item]
    created_at: float
    updated_at: float
    is_active: bool = True
    archived_at: float | None = None
    submissions: list[Submission] = attrs.field(factory=list)
    workflow_secret: str | None = None
    """Set by ``VisionoEmulator.enable_workflow_mode`` (the emulator's own control)."""
    workflow_redirect_url: str | None = None

    @property
    def slug(self) -> str:
        """The path segment of the link: the custom slug, else the lowercase code."""
        return self.custom_slug or self.unique_code.lower()


@attrs.define
class WebhookEndpoint:
    """A registered receiver of event deliveries."""

    id: str
    url: str
    events: list[str]
    description: str | None
    secret: str
    created_at: float
    updated_at: float
    is_active: bool = True
