"""Records -> the JSON objects of the wire format."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._clock import isoformat
from ._models import Item, PhotoRequest, SmartLink, Submission, WebhookEndpoint

__all__ = ["Serializer"]


def _iso_or_none(timestamp: float | None) -> str | None:
    return None if timestamp is None else isoformat(timestamp)


class Serializer:
    """Builds wire objects; URLs are absolute, rooted at the running server."""

    def __init__(self, root_url: Callable[[], str]) -> None:
        self._root_url = root_url

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running emulator."""
        return self._root_url()

    @staticmethod
    def item(item: Item) -> dict[str, Any]:
        """``{id, instructions, is_required}``."""
        return {"id": item.id, "instructions": item.instructions, "is_required": item.is_required}

    def photo_request(self, pr: PhotoRequest) -> dict[str, Any]:
        """The full photo request object."""
        return {
            "id": pr.id,
            "unique_code": pr.unique_code,
            "numeric_code": pr.numeric_code,
            "status": pr.status,
            "instructions": pr.instructions,
            "recipient_email": pr.recipient_email,
            "request_url": f"{self.root_url}/r/{pr.unique_code}",
            "code_entry_url": f"{self.root_url}/code",
            "expires_at": isoformat(pr.expires_at),
            "created_at": isoformat(pr.created_at),
            "metadata": dict(pr.metadata),
            "internal_notes": pr.internal_notes,
            "require_gps": pr.require_gps,
            "allow_submitter_notes": pr.allow_submitter_notes,
            "items": [self.item(item) for item in pr.items],
            "submissions_count": len(pr.submissions),
            "submitted_at": _iso_or_none(pr.submitted_at),
            "viewed_at": _iso_or_none(pr.viewed_at),
        }

    def smart_link(self, sl: SmartLink) -> dict[str, Any]:
        """The smart link object."""
        return {
            "id": sl.id,
            "unique_code": sl.unique_code,
            "custom_slug": sl.custom_slug,
            "name": sl.name,
            "is_active": sl.is_active,
            "instructions": sl.instructions,
            "unique_field_label": sl.unique_field_label,
            "show_full_name_field": sl.show_full_name_field,
            "full_name_required": sl.full_name_required,
            "require_gps": sl.require_gps,
            "request_url": f"{self.root_url}/s/{sl.slug}",
            "created_at": isoformat(sl.created_at),
            "updated_at": isoformat(sl.updated_at),
            "archived_at": _iso_or_none(sl.archived_at),
            "tags": list(sl.tags),
            "items": [self.item(item) for item in sl.items],
            "submissions_count": len(sl.submissions),
        }

    def permanent_link(self, sl: SmartLink) -> dict[str, Any]:
        """A smart link in the older permanent-link vocabulary."""
        return {
            "id": sl.id,
            "name": sl.name if sl.name is not None else sl.instructions,
            "instructions": sl.instructions,
            "slug": sl.slug,
            "is_active": sl.is_active,
            "url": f"{self.root_url}/s/{sl.slug}",
            "require_gps": sl.require_gps,
            "created_at": isoformat(sl.created_at),
            "updated_at": isoformat(sl.updated_at),
            "submissions_count": len(sl.submissions),
            "tags": list(sl.tags),
            "items": [self.item(item) for item in sl.items],
        }

    @staticmethod
    def _photo_fields(sub: Submission) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "file_size_kb": math.ceil(sub.size / 1024),
            "mime_type": sub.mime_type,
            "has_gps_data": sub.gps is not None,
        }
        if sub.gps is not None:
            fields["gps_latitude"], fields["gps_longitude"] = sub.gps
        fields["submitted_at"] = isoformat(sub.submitted_at)
        return fields

    def submission(self, sub: Submission) -> dict[str, Any]:
        """A submission as listed by ``.../submissions`` and sent in webhooks."""
        parent_key = "smart_link_id" if sub.on_smart_link else "photo_request_id"
        data: dict[str, Any] = {"id": sub.id, parent_key: sub.parent_id, "item_id": sub.item_id}
        data.update(self._photo_fields(sub))
        data["file_name"] = sub.file_name
        if sub.on_smart_link:
            data["unique_value"] = sub.unique_value
            data["full_name"] = sub.full_name
        return data

    def download_entry(
        self, sub: Submission, download_url: str, thumbnail_url: str
    ) -> dict[str, Any]:
        """One entry of ``.../download-urls``."""
        data: dict[str, Any] = {
            "id": sub.id,
            "item_id": sub.item_id,
            "download_url": download_url,
            "thumbnail_url": thumbnail_url,
        }
        data.update(self._photo_fields(sub))
        if sub.on_smart_link:
            data["unique_value"] = sub.unique_value
            data["full_name"] = sub.full_name
        return data

    @staticmethod
    def webhook(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
        """The endpoint object; the secret only when it was just created."""
        data: dict[str, Any] = {
            "id": endpoint.id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "description": endpoint.description,
            "is_active": endpoint.is_active,
            "created_at": isoformat(endpoint.created_at),
            "updated_at": isoformat(endpoint.updated_at),
        }
        if with_secret:
            data["secret"] = endpoint.secret
        return data
