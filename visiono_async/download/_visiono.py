"""The Visiono sources: photo requests and smart links, by id or by list filters.

One batch per photo request (or smart link); its ``fetch`` is one ``download-urls`` call,
which goes through the client's retries and rate-limit pacing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any, Literal

import attrs

from .._converter import parse_datetime
from .._selection import Selection, resolve_selection
from ._paths import mime_for_url
from ._source import Batch, RemoteFile

__all__ = ["VisionoBatch", "VisionoSource", "files_from_download_urls"]

Kind = Literal["photo_request", "smart_link"]
_ALL_VARIANTS = frozenset({"original", "thumbnail"})


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return float(value.timestamp())
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return _timestamp(parse_datetime(value))
        except ValueError:
            return None
    return None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _expiry(urls: Any, requested_at: float) -> float | None:
    # Relative validity measured from our own clock is immune to clock skew.
    seconds = getattr(urls, "expires_in_seconds", None)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return requested_at + float(seconds)
    return _timestamp(getattr(urls, "expires_at", None))


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def files_from_download_urls(
    urls: Any,
    *,
    kind: Kind,
    key: str,
    requested_at: float,
    variants: Collection[str] = _ALL_VARIANTS,
) -> list[RemoteFile]:
    """Turn a ``DownloadURLs`` answer into remote files, originals and thumbnails.

    Args:
        urls: The ``DownloadURLs`` model (``submissions``, ``expires_in_seconds``, ...).
        kind: Whether ``key`` is a photo request or a smart link id.
        key: The photo request or smart link id the call was made for.
        requested_at: ``time.time()`` when the call was sent (for relative expiry).
        variants: The variants to return (``"original"``, ``"thumbnail"``); both by default.

    Returns:
        One ``RemoteFile`` per submission and wanted variant.
    """
    expires_at = _expiry(urls, requested_at)
    request_id = getattr(urls, "photo_request_id", None) or (
        key if kind == "photo_request" else None
    )
    link_id = getattr(urls, "smart_link_id", None) or (key if kind == "smart_link" else None)
    want_original = "original" in variants
    want_thumbnail = "thumbnail" in variants
    files: list[RemoteFile] = []
    for sub in getattr(urls, "submissions", None) or ():
        url = getattr(sub, "download_url", None) if want_original else None
        thumb = getattr(sub, "thumbnail_url", None) if want_thumbnail else None
        if not url and not thumb:
            continue
        sub_id = str(sub.id)
        has_gps = getattr(sub, "has_gps_data", None)
        lat = _float(getattr(sub, "gps_latitude", None)) if has_gps is not False else None
        lon = _float(getattr(sub, "gps_longitude", None)) if has_gps is not False else None
        submitted_at = _iso(getattr(sub, "submitted_at", None))
        item_id = getattr(sub, "item_id", None)
        unique_value = getattr(sub, "unique_value", None)
        full_name = getattr(sub, "full_name", None)
        size_kb = getattr(sub, "file_size_kb", None)
        mime_type = getattr(sub, "mime_type", None)
        metadata = {
            "submission_id": sub_id,
            "photo_request_id": request_id,
            "smart_link_id": link_id,
            "item_id": item_id,
            "file_size_kb": size_kb,
            "mime_type": mime_type,
            "has_gps_data": has_gps,
            "gps_latitude": lat,
            "gps_longitude": lon,
            "submitted_at": submitted_at,
            "unique_value": unique_value,
            "full_name": full_name,
            "extra": getattr(sub, "extra", None),
        }
        record = RemoteFile(
            id=sub_id,
            url=str(url or thumb),
            expires_at=expires_at,
            size_kb=_float(size_kb),
            mime_type=mime_type,
            metadata=metadata,
            latitude=lat,
            longitude=lon,
            submitted_at=submitted_at,
            submission_id=sub_id,
            photo_request_id=request_id,
            smart_link_id=link_id,
            item_id=_str(item_id),
            unique_value=_str(unique_value),
            full_name=_str(full_name),
        )
        if url:
            files.append(record)
        if thumb:
            files.append(
                attrs.evolve(
                    record,
                    id=f"{sub_id}:thumbnail",
                    url=str(thumb),
                    size_kb=None,
                    mime_type=mime_for_url(str(thumb)),
                    variant="thumbnail",
                )
            )
    return files


class VisionoBatch:
    """The files of one photo request or smart link; ``fetch`` calls ``download-urls``.

    Args:
        client: The ``VisionoClient``.
        kind: ``"photo_request"`` or ``"smart_link"``.
        key: The photo request or smart link id.
        variants: The variants to return (``"original"``, ``"thumbnail"``); both by default.
    """

    def __init__(
        self, client: Any, kind: Kind, key: str, *, variants: Collection[str] = _ALL_VARIANTS
    ) -> None:
        self._client = client
        self.kind: Kind = kind
        self._key = key
        self._variants = variants

    @property
    def key(self) -> str:
        """The photo request or smart link id."""
        return self._key

    async def fetch(self) -> list[RemoteFile]:
        """One ``download-urls`` call, turned into remote files."""
        resource = (
            self._client.photo_requests
            if self.kind == "photo_request"
            else self._client.smart_links
        )
        requested_at = time.time()
        urls = await resource.download_urls(self._key)
        return files_from_download_urls(
            urls,
            kind=self.kind,
            key=self._key,
            requested_at=requested_at,
            variants=self._variants,
        )


class VisionoSource:
    """Photo requests and smart links, chosen by a :class:`Selection`, streamed page by page.

    With no selection (or ``Selection()``), every photo request and every smart link is
    listed. The flat keywords are the selection's shorthand, as for ``archive``.

    Args:
        client: The ``VisionoClient``.
        selection: What to list and fetch.
        photo_requests: Shorthand: photo request ids.
        smart_links: Shorthand: smart link ids.
        status: Shorthand: list photo requests with this status.
        created_after: Shorthand: list photo requests created after this.
        created_before: Shorthand: list photo requests created before this.
        is_active: Shorthand: list smart links with this active flag.
        tags: Shorthand: list smart links with any of these tags.
        variants: The variants its batches return (``"original"``, ``"thumbnail"``); both
            by default. ``archive`` passes the ones it was asked for.

    Raises:
        TypeError: ``selection`` and a flat keyword given together, or a bad value (see
            ``Selection``).
        ValueError: A bad value (see ``Selection``).
    """

    def __init__(
        self,
        client: Any,
        selection: Selection | None = None,
        *,
        photo_requests: Iterable[str] | None = None,
        smart_links: Iterable[str] | None = None,
        status: str | None = None,
        created_after: dt.datetime | dt.date | str | None = None,
        created_before: dt.datetime | dt.date | str | None = None,
        is_active: bool | None = None,
        tags: Iterable[str] | None = None,
        variants: Collection[str] = _ALL_VARIANTS,
    ) -> None:
        self._client = client
        self._variants = frozenset(variants)
        self.selection = resolve_selection(
            selection,
            photo_requests=photo_requests,
            smart_links=smart_links,
            status=status,
            created_after=created_after,
            created_before=created_before,
            is_active=is_active,
            tags=tags,
        )
        """What this source lists and fetches."""

    async def batches(self) -> AsyncIterator[Batch]:
        """Yield one batch per photo request and smart link, each at most once."""
        chosen = self.selection
        seen: set[str] = set()
        for kind, ids in (
            ("photo_request", chosen.photo_requests),
            ("smart_link", chosen.smart_links),
        ):
            for key in ids:
                if key not in seen:
                    seen.add(key)
                    yield VisionoBatch(
                        self._client,
                        kind,  # type: ignore[arg-type]
                        key,
                        variants=self._variants,
                    )
        if chosen.lists_photo_requests:
            async for request in self._client.photo_requests.list(**chosen.photo_request_filters):
                key = str(request.id)
                if key not in seen:
                    seen.add(key)
                    yield VisionoBatch(self._client, "photo_request", key, variants=self._variants)
        if chosen.lists_smart_links:
            async for link in self._client.smart_links.list(**chosen.smart_link_filters):
                key = str(link.id)
                if key not in seen:
                    seen.add(key)
                    yield VisionoBatch(self._client, "smart_link", key, variants=self._variants)
