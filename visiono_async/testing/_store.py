"""The emulator's in-memory state and the life cycle rules that change it.

Routes and the ``simulate_*`` helpers both go through this one place, so a photo request
moves from ``pending`` to ``submitted`` (and emits its events) the same way either way.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from ._clock import EmulatorClock
from ._ids import new_api_key, new_code, new_id, new_numeric_code
from ._jpeg import sample_jpeg
from ._models import (
    PLANS,
    SCOPES,
    ApiKeyRecord,
    Item,
    PhotoRequest,
    SmartLink,
    Submission,
    WebhookEndpoint,
)
from ._serialize import Serializer
from ._storage import PhotoStorage
from ._validation import ItemSpec, PhotoRequestSpec

__all__ = ["EventSink", "InvalidStateError", "Store"]

EventSink = Callable[[str, dict[str, Any]], None]
"""Receives ``(event name, data)`` for every domain event, e.g. to deliver webhooks."""

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/gif": "gif",
}
_THUMBNAIL_MAX = 8_192


class InvalidStateError(Exception):
    """The record is in a state that does not allow the operation."""


def _key_digest(key: str) -> str:
    # Keys are looked up by digest so the store never holds a key next to its grants.
    return hashlib.sha256(key.encode()).hexdigest()


class _Record(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> float: ...


RecordT = TypeVar("RecordT", bound=_Record)


def _newest_first(records: Iterable[RecordT]) -> list[RecordT]:
    return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)


class Store:
    """All records of one emulator, and the operations on them."""

    def __init__(self, clock: EmulatorClock, serializer: Serializer, storage: PhotoStorage) -> None:
        self.clock = clock
        self.serializer = serializer
        self.storage = storage
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.photo_requests: dict[str, PhotoRequest] = {}
        self.smart_links: dict[str, SmartLink] = {}
        self.webhooks: dict[str, WebhookEndpoint] = {}
        self.sent_emails: list[dict[str, str]] = []
        self.event_sink: EventSink | None = None
        self._codes: dict[str, str] = {}
        self._submission_count = 0

    # -- API keys ---------------------------------------------------------------------------

    def create_api_key(self, scopes: Iterable[str] | None, plan: str) -> str:
        """Register a new key and return it."""
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; use one of {', '.join(PLANS)}")
        granted = frozenset(SCOPES if scopes is None else scopes)
        unknown = sorted(granted - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; known scopes: {', '.join(SCOPES)}")
        key = new_api_key()
        self.api_keys[_key_digest(key)] = ApiKeyRecord(scopes=granted, plan=PLANS[plan])
        return key

    def revoke_api_key(self, key: str) -> None:
        """Make ``key`` fail authentication from now on."""
        record = self.api_keys.get(_key_digest(key))
        if record is None:
            raise ValueError("revoke_api_key: this key was not created by this emulator")
        record.revoked = True

    def authenticate(self, key: str | None) -> tuple[str, ApiKeyRecord] | None:
        """``(key id, grants)`` of a valid key; ``None`` for a missing, unknown or revoked one.

        The key id is a digest of the key, safe to use in logs and as a bucket name.
        """
        if not key:
            return None
        digest = _key_digest(key)
        record = self.api_keys.get(digest)
        if record is None or record.revoked:
            return None
        return digest, record

    # -- events -----------------------------------------------------------------------------

    def _emit(self, event: str, **data: dict[str, Any]) -> None:
        self.event_sink_emit(event, data)

    def event_sink_emit(self, event: str, data: dict[str, Any]) -> None:
        """Hand ``event`` with ``data`` to the webhook deliveries (if any are running)."""
        if self.event_sink is not None:
            self.event_sink(event, data)

    def _emit_photo_request(self, event: str, pr: PhotoRequest, sub: Submission | None) -> None:
        data = {"photo_request": self.serializer.photo_request(pr)}
        if sub is not None:
            data["submission"] = self.serializer.submission(sub)
        self._emit(event, **data)

    # -- codes ------------------------------------------------------------------------------

    def _reserve_code(self, make: Callable[[], str], owner: str) -> str:
        # Codes of photo requests and smart links share one namespace: /qr/{code}.png
        # and lookups by code must be unambiguous.
        code = make()
        while code in self._codes:
            code = make()
        self._codes[code] = owner
        return code

    @staticmethod
    def _items(specs: Iterable[ItemSpec]) -> list[Item]:
        return [Item(new_id("pri"), spec.instructions, spec.is_required) for spec in specs]

    # -- photo requests ---------------------------------------------------------------------

    def create_photo_request(self, spec: PhotoRequestSpec, *, email_enabled: bool) -> PhotoRequest:
        """Create a photo request; sends the email when asked and the plan allows it."""
        now = self.clock.now()
        pr_id = new_id("pr")
        pr = PhotoRequest(
            id=pr_id,
            unique_code=self._reserve_code(new_code, pr_id),
            numeric_code=self._reserve_code(new_numeric_code, pr_id),
            instructions=spec.instructions,
            recipient_email=spec.recipient_email,
            expires_at=now + spec.expires_in_hours * 3600,
            created_at=now,
            metadata=spec.metadata,
            internal_notes=spec.internal_notes,
            require_gps=spec.require_gps,
            allow_submitter_notes=spec.allow_submitter_notes,
            items=self._items(spec.items),
        )
        self.photo_requests[pr.id] = pr
        if spec.send_email and email_enabled and spec.recipient_email:
            self.sent_emails.append({"photo_request_id": pr.id, "to": spec.recipient_email})
        self._emit_photo_request("photo_request.created", pr, None)
        return pr

    def find_photo_request(self, id_or_code: str) -> PhotoRequest | None:
        """By id, ``unique_code`` (any case) or ``numeric_code``."""
        pr = self.photo_requests.get(id_or_code)
        if pr is None:
            owner = self._codes.get(id_or_code.upper())
            pr = self.photo_requests.get(owner) if owner else None
        return pr

    def list_photo_requests(self) -> list[PhotoRequest]:
        """Every photo request, newest first (ties by id)."""
        return _newest_first(self.photo_requests.values())

    def expire_due(self) -> None:
        """Expire open requests whose ``expires_at`` has passed, once each."""
        now = self.clock.now()
        due = [
            pr
            for pr in self.photo_requests.values()
            if pr.status in ("pending", "in_progress") and now > pr.expires_at
        ]
        for pr in sorted(due, key=lambda pr: (pr.expires_at, pr.id)):
            pr.status = "expired"
            self._emit_photo_request("photo_request.expired", pr, None)

    def cancel_photo_request(self, pr: PhotoRequest) -> None:
        """Cancel an open request.

        Raises:
            InvalidStateError: The request is already submitted, expired or cancelled.
        """
        if pr.status not in ("pending", "in_progress"):
            raise InvalidStateError(f"A {pr.status} photo request cannot be cancelled.")
        pr.status = "cancelled"
        pr.cancelled_at = self.clock.now()

    def view_photo_request(self, pr: PhotoRequest) -> None:
        """The recipient opens the link: the first time sets ``viewed_at`` and emits."""
        if pr.status in ("cancelled", "expired"):
            raise ValueError(f"photo request {pr.id} is {pr.status}; its link no longer opens")
        if pr.viewed_at is None:
            pr.viewed_at = self.clock.now()
            self._emit_photo_request("photo_request.first_viewed", pr, None)

    def _open_item(self, pr: PhotoRequest, item_id: str | None) -> Item:
        if pr.status in ("cancelled", "expired"):
            raise ValueError(f"photo request {pr.id} is {pr.status}; it accepts no more photos")
        done = {sub.item_id for sub in pr.submissions}
        if item_id is None:
            for item in pr.items:
                if item.id not in done:
                    return item
            raise ValueError(f"every item of photo request {pr.id} already has a photo")
        for item in pr.items:
            if item.id == item_id:
                if item.id in done:
                    raise ValueError(f"item {item_id} of photo request {pr.id} already has a photo")
                return item
        known = ", ".join(item.id for item in pr.items)
        raise ValueError(f"photo request {pr.id} has no item {item_id!r} (its items: {known})")

    async def submit_photo(
        self,
        id_or_code: str,
        item_id: str | None,
        *,
        content: bytes | None,
        gps: tuple[float, float] | None,
        mime_type: str,
        size: int | None,
        file_name: str | None,
    ) -> Submission:
        """Upload one photo to a photo request item and advance the request's status."""
        self.expire_due()
        pr = self.find_photo_request(id_or_code)
        if pr is None:
            raise ValueError(f"no photo request with id or code {id_or_code!r}")
        if pr.require_gps and gps is None:
            raise ValueError(f"photo request {pr.id} has require_gps set: pass gps=(lat, lon)")
        self._open_item(pr, item_id)
        sub = await self._store_photo("ps", pr.id, content, mime_type, size, file_name, gps)
        # Checked again: another submission may have taken the item during the upload.
        self.expire_due()
        item = self._open_item(pr, item_id)
        sub.item_id = item.id
        pr.submissions.append(sub)
        if pr.status == "pending":
            pr.status = "in_progress"
        self._emit_photo_request("photo_submission.created", pr, sub)
        done = {s.item_id for s in pr.submissions}
        if pr.status != "submitted" and all(i.id in done for i in pr.items if i.is_required):
            pr.status = "submitted"
            pr.submitted_at = sub.submitted_at
            self._emit_photo_request("photo_request.submitted", pr, None)
        return sub

    async def _store_photo(
        self,
        prefix: str,
        parent_id: str,
        content: bytes | None,
        mime_type: str,
        size: int | None,
        file_name: str | None,
        gps: tuple[float, float] | None,
    ) -> Submission:
        seq = self._submission_count
        self._submission_count += 1
        if content is not None and size is not None and size != len(content):
            raise ValueError(f"size={size} does not match len(content)={len(content)}")
        length = len(content) if content is not None else (size if size is not None else 50_000)
        extension = _EXTENSIONS.get(mime_type.lower(), "bin")
        sub_id = new_id(prefix)
        original_key = f"{sub_id}/original.{extension}"
        thumbnail_key = f"{sub_id}/thumbnail.jpg"
        thumbnail = sample_jpeg(min(_THUMBNAIL_MAX, max(length // 10, 512)), seed=seq)
        put_sample = getattr(self.storage, "put_sample", None)
        if content is None and put_sample is not None:
            # Kept as a recipe and made as it is served: memory stays flat (MemoryStorage).
            await put_sample(original_key, length, seq, mime_type)
        else:
            if content is None:
                content = sample_jpeg(length, seed=seq)
            await self.storage.put(original_key, content, mime_type)
        await self.storage.put(thumbnail_key, thumbnail, "image/jpeg")
        return Submission(
            id=sub_id,
            parent_id=parent_id,
            item_id="",
            size=length,
            mime_type=mime_type,
            gps=gps,
            submitted_at=self.clock.now(),
            file_name=file_name or f"IMG_{seq + 1:04d}.{extension}",
            original_key=original_key,
            thumbnail_key=thumbnail_key,
        )

    # -- smart links ------------------------------------------------------------------------

    def slug_taken(self, slug: str, *, exclude: str | None = None) -> bool:
        """Whether another link already answers at ``/s/{slug}``."""
        return any(sl.slug == slug and sl.id != exclude for sl in self.smart_links.values())

    def create_smart_link(self, fields: dict[str, Any]) -> SmartLink:
        """Create a smart link from validated fields (see ``parse_smart_link``)."""
        now = self.clock.now()
        sl_id = new_id("sl")
        sl = SmartLink(
            id=sl_id,
            unique_code=self._reserve_code(new_code, sl_id),
            custom_slug=fields.get("custom_slug"),
            name=fields.get("name"),
            instructions=fields["instructions"],
            unique_field_label=fields.get("unique_field_label"),
            show_full_name_field=fields.get("show_full_name_field", False),
            full_name_required=fields.get("full_name_required", False),
            require_gps=fields.get("require_gps", False),
            tags=fields.get("tags", []),
            items=self._items(fields["items"]),
            created_at=now,
            updated_at=now,
        )
        self.smart_links[sl.id] = sl
        if fields.get("is_active") is False:
            self.archive_smart_link(sl)
        return sl

    def update_smart_link(self, sl: SmartLink, fields: dict[str, Any]) -> None:
        """Apply validated fields; ``items`` replaces the item list."""
        for name, value in fields.items():
            if name == "items":
                sl.items = self._items(value)
            elif name == "is_active":
                sl.is_active = value
                sl.archived_at = None if value else (sl.archived_at or self.clock.now())
            else:
                setattr(sl, name, value)
        sl.updated_at = self.clock.now()

    def find_smart_link(self, ident: str) -> SmartLink | None:
        """By id, ``unique_code`` or slug."""
        sl = self.smart_links.get(ident)
        if sl is None:
            owner = self._codes.get(ident.upper())
            sl = self.smart_links.get(owner) if owner else None
        if sl is None:
            sl = next((s for s in self.smart_links.values() if s.slug == ident), None)
        return sl

    def list_smart_links(self) -> list[SmartLink]:
        """Every smart link, newest first (ties by id)."""
        return _newest_first(self.smart_links.values())

    def archive_smart_link(self, sl: SmartLink) -> None:
        """Deactivate; archiving twice keeps the first ``archived_at``."""
        if sl.is_active:
            sl.is_active = False
            sl.archived_at = self.clock.now()
            sl.updated_at = sl.archived_at

    def delete_smart_link(self, sl: SmartLink) -> None:
        """Remove the link and its submissions."""
        del self.smart_links[sl.id]
        self._codes.pop(sl.unique_code, None)

    async def submit_smart_link_photo(
        self,
        ident: str,
        item_id: str | None,
        *,
        unique_value: str,
        full_name: str | None,
        content: bytes | None,
        gps: tuple[float, float] | None,
        mime_type: str,
        file_name: str | None,
    ) -> tuple[SmartLink, Submission]:
        """Upload one photo through a smart link."""
        sl = self.find_smart_link(ident)
        if sl is None:
            raise ValueError(f"no smart link with id, code or slug {ident!r}")
        self._check_smart_link(sl, item_id, full_name, gps)
        sub = await self._store_photo("pls", sl.id, content, mime_type, None, file_name, gps)
        item = self._check_smart_link(sl, item_id, full_name, gps)
        sub.item_id = item.id
        sub.unique_value = unique_value
        sub.full_name = full_name
        sl.submissions.append(sub)
        self._emit(
            "photo_submission.created",
            smart_link=self.serializer.smart_link(sl),
            submission=self.serializer.submission(sub),
        )
        return sl, sub

    def _check_smart_link(
        self,
        sl: SmartLink,
        item_id: str | None,
        full_name: str | None,
        gps: tuple[float, float] | None,
    ) -> Item:
        if sl.id not in self.smart_links:
            raise ValueError(f"smart link {sl.id} was deleted")
        if not sl.is_active:
            raise ValueError(f"smart link {sl.id} is archived; it accepts no photos")
        if sl.require_gps and gps is None:
            raise ValueError(f"smart link {sl.id} has require_gps set: pass gps=(lat, lon)")
        if sl.show_full_name_field and sl.full_name_required and not full_name:
            raise ValueError(f"smart link {sl.id} requires a full name: pass full_name=...")
        if item_id is None:
            return sl.items[0]
        for item in sl.items:
            if item.id == item_id:
                return item
        known = ", ".join(item.id for item in sl.items)
        raise ValueError(f"smart link {sl.id} has no item {item_id!r} (its items: {known})")

    # -- webhooks ---------------------------------------------------------------------------

    def create_webhook(self, fields: dict[str, Any], secret: str) -> WebhookEndpoint:
        """Register an endpoint from validated fields."""
        now = self.clock.now()
        endpoint = WebhookEndpoint(
            id=new_id("wh"),
            url=fields["url"],
            events=fields["events"],
            description=fields.get("description"),
            secret=secret,
            created_at=now,
            updated_at=now,
        )
        self.webhooks[endpoint.id] = endpoint
        return endpoint

    def update_webhook(self, endpoint: WebhookEndpoint, fields: dict[str, Any]) -> None:
        """Apply validated fields."""
        for name, value in fields.items():
            setattr(endpoint, name, value)
        endpoint.updated_at = self.clock.now()

    def list_webhooks(self) -> list[WebhookEndpoint]:
        """Every endpoint, newest first (ties by id)."""
        return _newest_first(self.webhooks.values())

    # -- account ----------------------------------------------------------------------------

    def usage(self, *, since: float | None) -> tuple[int, int]:
        """``(photos used, photo requests created)`` since ``since`` (``None``: ever)."""
        start = -math.inf if since is None else since
        submissions = [
            *(sub for pr in self.photo_requests.values() for sub in pr.submissions),
            *(sub for sl in self.smart_links.values() for sub in sl.submissions),
        ]
        photos = sum(1 for sub in submissions if sub.submitted_at >= start)
        created = sum(1 for pr in self.photo_requests.values() if pr.created_at >= start)
        return photos, created
