"""``/smart-links`` and ``/permanent-links`` (the older name of the same records)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._errors import not_found, validation_failed
from ._http import deleted, ok, paginated, read_object
from ._models import SmartLink
from ._routes_photo_requests import download_urls_meta, signed_entries
from ._routing import Route, backend
from ._validation import FieldErrors, parse_bool_query, parse_permanent_link, parse_smart_link

__all__ = ["ROUTES"]


def _smart_link(request: web.Request) -> SmartLink:
    ident = request.match_info["id"]
    sl = backend(request).store.find_smart_link(ident)
    if sl is None:
        raise not_found("smart link", ident)
    return sl


def _check_slug(
    request: web.Request, fields: dict[str, Any], field: str, exclude: str | None
) -> None:
    slug = fields.get("custom_slug")
    if slug is not None and backend(request).store.slug_taken(slug, exclude=exclude):
        raise validation_failed({field: [f"The {field.replace('_', ' ')} has already been taken."]})


def _filtered(request: web.Request) -> list[SmartLink]:
    errors = FieldErrors()
    is_active = parse_bool_query(request.query, "is_active", errors)
    errors.raise_if_any()
    tags = {t.strip() for t in request.query.get("tags", "").split(",") if t.strip()}
    return [
        sl
        for sl in backend(request).store.list_smart_links()
        if (is_active is None or sl.is_active == is_active)
        and (not tags or tags.intersection(sl.tags))
    ]


Parser = Callable[[dict[str, Any], FieldErrors], dict[str, Any]]


async def _create(request: web.Request, parse: Parser, slug_field: str) -> SmartLink:
    body = await read_object(request)
    errors = FieldErrors()
    fields = parse(body, errors)
    errors.raise_if_any()
    _check_slug(request, fields, slug_field, exclude=None)
    return backend(request).store.create_smart_link(fields)


async def _update(request: web.Request, parse: Parser, slug_field: str) -> SmartLink:
    sl = _smart_link(request)
    body = await read_object(request)
    errors = FieldErrors()
    fields = parse(body, errors)
    errors.raise_if_any()
    _check_slug(request, fields, slug_field, exclude=sl.id)
    backend(request).store.update_smart_link(sl, fields)
    return sl


def _smart_fields(partial: bool) -> Parser:
    return lambda body, errors: parse_smart_link(body, errors, partial=partial)


def _permanent_fields(partial: bool) -> Parser:
    return lambda body, errors: parse_permanent_link(body, errors, partial=partial)


# -- /smart-links ---------------------------------------------------------------------------


async def list_smart_links(request: web.Request) -> web.StreamResponse:
    """Newest first; ``is_active=true|false``, ``tags=a,b`` (any of them)."""
    return paginated(request, _filtered(request), backend(request).serializer.smart_link)


async def create_smart_link(request: web.Request) -> web.StreamResponse:
    """201 with the new link."""
    sl = await _create(request, _smart_fields(partial=False), "custom_slug")
    return ok(backend(request).serializer.smart_link(sl), status=201)


async def get_smart_link(request: web.Request) -> web.StreamResponse:
    """By id, code or slug."""
    return ok(backend(request).serializer.smart_link(_smart_link(request)))


async def update_smart_link(request: web.Request) -> web.StreamResponse:
    """Update the given fields (``items`` replaces the list)."""
    sl = await _update(request, _smart_fields(partial=True), "custom_slug")
    return ok(backend(request).serializer.smart_link(sl))


async def archive_smart_link(request: web.Request) -> web.StreamResponse:
    """Archive: ``is_active`` false, ``archived_at`` set; 200 with the link."""
    sl = _smart_link(request)
    b = backend(request)
    b.store.archive_smart_link(sl)
    return deleted(b.serializer.smart_link(sl), b.delete_answer)


async def list_submissions(request: web.Request) -> web.StreamResponse:
    """Every photo uploaded through the link, in upload order."""
    sl = _smart_link(request)
    serializer = backend(request).serializer
    return ok([serializer.submission(sub) for sub in sl.submissions])


async def download_urls(request: web.Request) -> web.StreamResponse:
    """Signed, expiring URLs of every photo and thumbnail."""
    sl = _smart_link(request)
    b = backend(request)
    data = {"smart_link_id": sl.id, "submissions": signed_entries(b, sl.submissions)}
    return ok(data, meta=download_urls_meta(b))


async def qrcode(request: web.Request) -> web.StreamResponse:
    """The URL of a PNG QR code pointing at the link."""
    sl = _smart_link(request)
    return ok({"qrcode_url": f"{backend(request).root_url}/qr/{sl.slug}.png"})


# -- /permanent-links -----------------------------------------------------------------------


async def list_permanent_links(request: web.Request) -> web.StreamResponse:
    """Every link in the permanent-link vocabulary, newest first."""
    return paginated(request, _filtered(request), backend(request).serializer.permanent_link)


async def create_permanent_link(request: web.Request) -> web.StreamResponse:
    """201 with the new link (``name`` required)."""
    sl = await _create(request, _permanent_fields(partial=False), "slug")
    return ok(backend(request).serializer.permanent_link(sl), status=201)


async def get_permanent_link(request: web.Request) -> web.StreamResponse:
    """By id, code or slug."""
    return ok(backend(request).serializer.permanent_link(_smart_link(request)))


async def update_permanent_link(request: web.Request) -> web.StreamResponse:
    """Update the given fields."""
    sl = await _update(request, _permanent_fields(partial=True), "slug")
    return ok(backend(request).serializer.permanent_link(sl))


async def delete_permanent_link(request: web.Request) -> web.StreamResponse:
    """Delete for good (with its submissions): ``{"id", "deleted": true}``."""
    sl = _smart_link(request)
    b = backend(request)
    b.store.delete_smart_link(sl)
    return deleted({"id": sl.id, "deleted": True}, b.delete_answer)


ROUTES = [
    Route("GET", "/smart-links", list_smart_links, "smart_links:read"),
    Route("POST", "/smart-links", create_smart_link, "smart_links:write"),
    Route("GET", "/smart-links/{id}", get_smart_link, "smart_links:read"),
    Route("PUT", "/smart-links/{id}", update_smart_link, "smart_links:write"),
    Route("DELETE", "/smart-links/{id}", archive_smart_link, "smart_links:write"),
    Route("GET", "/smart-links/{id}/submissions", list_submissions, "submissions:read"),
    Route("GET", "/smart-links/{id}/download-urls", download_urls, "download_urls:read"),
    Route("GET", "/smart-links/{id}/qrcode", qrcode, "smart_links:read"),
    Route("GET", "/permanent-links", list_permanent_links, "smart_links:read"),
    Route("POST", "/permanent-links", create_permanent_link, "smart_links:write"),
    Route("GET", "/permanent-links/{id}", get_permanent_link, "smart_links:read"),
    Route("PATCH", "/permanent-links/{id}", update_permanent_link, "smart_links:write"),
    Route("DELETE", "/permanent-links/{id}", delete_permanent_link, "smart_links:write"),
]
