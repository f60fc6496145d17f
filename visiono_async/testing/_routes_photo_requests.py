"""``/photo-requests``: list, create, batch, get, cancel, submissions, download URLs, QR."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from ._backend import Backend
from ._clock import parse_iso
from ._context import current
from ._errors import ApiProblem, not_found, validation_failed
from ._http import deleted, ok, paginated, read_object
from ._models import PHOTO_REQUEST_STATUSES, PhotoRequest, Submission
from ._routing import Route, backend
from ._store import InvalidStateError
from ._validation import (
    FieldErrors,
    PhotoRequestSpec,
    check_free_plan,
    parse_photo_request,
    raise_free_plan,
)

__all__ = ["ROUTES", "download_urls_meta", "signed_entries"]

MAX_BATCH = 10


def _photo_request(request: web.Request) -> PhotoRequest:
    ident = request.match_info["id"]
    pr = backend(request).store.find_photo_request(ident)
    if pr is None:
        raise not_found("photo request", ident)
    return pr


def _time_filter(request: web.Request, name: str, errors: FieldErrors) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        errors.add(name, f"The {name.replace('_', ' ')} field must be a valid ISO 8601 date.")
        return None


async def list_photo_requests(request: web.Request) -> web.StreamResponse:
    """Newest first; filters ``status``, ``created_after`` (inclusive), ``created_before``."""
    errors = FieldErrors()
    status = request.query.get("status") or None
    if status is not None and status not in PHOTO_REQUEST_STATUSES:
        errors.add(
            "status",
            f"The selected status is invalid. Use one of: {', '.join(PHOTO_REQUEST_STATUSES)}.",
        )
    after = _time_filter(request, "created_after", errors)
    before = _time_filter(request, "created_before", errors)
    errors.raise_if_any()
    b = backend(request)
    records = [
        pr
        for pr in b.store.list_photo_requests()
        if (status is None or pr.status == status)
        and (after is None or pr.created_at >= after)
        and (before is None or pr.created_at < before)
    ]
    return paginated(request, records, b.serializer.photo_request)


def _email_enabled() -> bool:
    key = current().key
    return key is not None and key.plan.email_enabled


async def create_photo_request(request: web.Request) -> web.StreamResponse:
    """201 with the new request."""
    body = await read_object(request)
    if not _email_enabled():
        raise_free_plan(check_free_plan(body))
    errors = FieldErrors()
    spec = parse_photo_request(body, errors)
    errors.raise_if_any()
    assert spec is not None
    b = backend(request)
    pr = b.store.create_photo_request(spec, email_enabled=_email_enabled())
    return ok(b.serializer.photo_request(pr), status=201)


async def create_batch(request: web.Request) -> web.StreamResponse:
    """Validate every spec first, then create them all: 201 with the requests in input order."""
    body = await read_object(request)
    specs_in = body.get("requests")
    if not isinstance(specs_in, list) or not 1 <= len(specs_in) <= MAX_BATCH:
        raise validation_failed(
            {"requests": [f"The requests field must be an array of 1 to {MAX_BATCH} items."]}
        )
    if not _email_enabled():
        prohibited: dict[str, list[str]] = {}
        for index, spec_in in enumerate(specs_in):
            if isinstance(spec_in, dict):
                prohibited.update(check_free_plan(spec_in, prefix=f"requests.{index}."))
        raise_free_plan(prohibited)
    errors = FieldErrors()
    specs: list[PhotoRequestSpec] = []
    for index, spec_in in enumerate(specs_in):
        if not isinstance(spec_in, dict):
            errors.add(f"requests.{index}", f"The requests.{index} field must be an object.")
            continue
        spec = parse_photo_request(spec_in, errors, prefix=f"requests.{index}.")
        if spec is not None:
            specs.append(spec)
    errors.raise_if_any()
    b = backend(request)
    created = [b.store.create_photo_request(spec, email_enabled=_email_enabled()) for spec in specs]
    return ok([b.serializer.photo_request(pr) for pr in created], status=201)


async def get_photo_request(request: web.Request) -> web.StreamResponse:
    """By id, unique code or numeric code."""
    return ok(backend(request).serializer.photo_request(_photo_request(request)))


async def cancel_photo_request(request: web.Request) -> web.StreamResponse:
    """Cancel an open request: 200 with the cancelled object, 422 ``invalid_state`` else."""
    pr = _photo_request(request)
    try:
        backend(request).store.cancel_photo_request(pr)
    except InvalidStateError as exc:
        raise ApiProblem(
            422, "invalid_state", str(exc), details={"status": [f"The request is {pr.status}."]}
        ) from None
    b = backend(request)
    return deleted(b.serializer.photo_request(pr), b.delete_answer)


async def list_submissions(request: web.Request) -> web.StreamResponse:
    """Every photo of the request, in upload order."""
    pr = _photo_request(request)
    serializer = backend(request).serializer
    return ok([serializer.submission(sub) for sub in pr.submissions])


def _describe(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "day" and seconds < 2 * 86400):
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def download_urls_meta(b: Backend) -> dict[str, object]:
    """``urls_valid_for`` ("24 hours") and ``expires_in_seconds``."""
    return {"urls_valid_for": _describe(b.url_ttl), "expires_in_seconds": int(b.url_ttl)}


def signed_entries(b: Backend, submissions: Sequence[Submission]) -> list[dict[str, object]]:
    """Download entries with URLs freshly signed until ``now + url_ttl``."""
    expires_at = b.clock.now() + b.url_ttl
    return [
        b.serializer.download_entry(
            sub,
            b.storage.signed_url(sub.original_key, expires_at),
            b.storage.signed_url(sub.thumbnail_key, expires_at),
        )
        for sub in submissions
    ]


async def download_urls(request: web.Request) -> web.StreamResponse:
    """Signed, expiring URLs of every photo and thumbnail."""
    pr = _photo_request(request)
    b = backend(request)
    data = {"photo_request_id": pr.id, "submissions": signed_entries(b, pr.submissions)}
    return ok(data, meta=download_urls_meta(b))


async def qrcode(request: web.Request) -> web.StreamResponse:
    """The URL of a PNG QR code pointing at the request."""
    pr = _photo_request(request)
    return ok({"qrcode_url": f"{backend(request).root_url}/qr/{pr.unique_code}.png"})


ROUTES = [
    Route("GET", "/photo-requests", list_photo_requests, "photo_requests:read"),
    Route("POST", "/photo-requests", create_photo_request, "photo_requests:write"),
    Route("POST", "/photo-requests/batch", create_batch, "photo_requests:write"),
    Route("GET", "/photo-requests/{id}", get_photo_request, "photo_requests:read"),
    Route("DELETE", "/photo-requests/{id}", cancel_photo_request, "photo_requests:write"),
    Route("GET", "/photo-requests/{id}/submissions", list_submissions, "submissions:read"),
    Route("GET", "/photo-requests/{id}/download-urls", download_urls, "download_urls:read"),
    Route("GET", "/photo-requests/{id}/qrcode", qrcode, "photo_requests:read"),
]
