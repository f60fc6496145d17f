"""Building API responses: the success envelope, errors, bodies and pagination."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from aiohttp import web

from ._context import current
from ._errors import ApiProblem, FrameworkValidationError
from ._validation import parse_page

__all__ = [
    "dumps",
    "error_response",
    "framework_response",
    "ok",
    "paginated",
    "read_object",
]

T = TypeVar("T")


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _json(payload: Any, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(payload), status=status, content_type="application/json", headers=headers
    )


def ok(data: Any, *, status: int = 200, meta: Mapping[str, Any] | None = None) -> web.Response:
    """``{"data": ..., "meta": {..., "request_id"}}``."""
    return _json(
        {"data": data, "meta": {**(meta or {}), "request_id": current().request_id}}, status
    )


DeleteAnswer = Literal["object", "empty", "no_content"]
"""How the emulator answers a DELETE (Visiono does not document it): 200 with the object,
200 with an empty body, or 204."""


def deleted(data: Any, answer: DeleteAnswer) -> web.Response:
    """A DELETE's answer in the chosen form (``answer``): the emulator's choice."""
    if answer == "no_content":
        return web.Response(status=204)
    if answer == "empty":
        return web.Response(status=200)
    return ok(data)


def error_body(problem: ApiProblem, request_id: str) -> dict[str, Any]:
    """The standard error shape."""
    error: dict[str, Any] = {
        "code": problem.code,
        "message": problem.message,
        "details": problem.details,
    }
    error.update(problem.extra)
    return {"error": error, "meta": {"request_id": request_id}}


def error_response(problem: ApiProblem, request_id: str) -> web.Response:
    """The standard error shape as a response, with the problem's headers."""
    return _json(error_body(problem, request_id), problem.status, problem.headers)


def framework_response(error: FrameworkValidationError) -> web.Response:
    """The framework 422 shape ``{"message", "errors"}`` (free-plan email fields)."""
    return _json({"message": error.message, "errors": error.errors}, 422)


async def read_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body is ``{}``.

    Raises:
        ApiProblem: 400 ``bad_request`` for malformed JSON or a body that is not an object.
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiProblem(400, "bad_request", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiProblem(400, "bad_request", "The request body must be a JSON object.")
    return body


Pagination = Literal[
    "meta", "links", "bare", "total", "has_more", "next_page", "nested", "has_more_unpaged"
]
"""How the emulator pages its lists. Visiono does not document pagination, so every form
is the emulator's choice: ``meta`` (the default: ``meta.current_page/last_page/per_page/
total`` and ``links``), ``links`` (only ``links.next``), ``bare`` (one bare list of all
items), ``total`` (``meta.total`` and ``meta.per_page``, no page number), ``has_more``
(a top-level ``has_more``), ``next_page`` (a top-level ``next_page`` number or null),
``nested`` (``pagination: {page, pages}``), and ``has_more_unpaged`` (says more follow
but ignores ``?page=``: a server no client can page through)."""


def paginated(
    request: web.Request, records: Sequence[T], render: Callable[[T], dict[str, Any]]
) -> web.Response:
    """One page of ``records``, in the emulator's chosen :data:`Pagination` form."""
    from ._backend import BACKEND  # the backend imports this module

    style = request.app[BACKEND].pagination
    if style == "bare":
        return _json([render(record) for record in records], 200)
    page, per_page = parse_page(request.query)
    if style == "has_more_unpaged":
        page = 1
    total = len(records)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    data = [render(record) for record in records[start : start + per_page]]
    request_id = current().request_id

    def link(number: int) -> str:
        return str(request.url.update_query(page=str(number), per_page=str(per_page)))

    more = page < last_page
    payload: dict[str, Any]
    if style == "links":
        payload = {"data": data, "links": {"next": link(page + 1) if more else None}}
    elif style == "total":
        payload = {"data": data, "meta": {"total": total, "per_page": per_page}}
    elif style in ("has_more", "has_more_unpaged"):
        payload = {"data": data, "has_more": more or style == "has_more_unpaged"}
    elif style == "next_page":
        payload = {"data": data, "next_page": page + 1 if more else None}
    elif style == "nested":
        payload = {"data": data, "pagination": {"page": page, "pages": last_page}}
    else:
        payload = {
            "data": data,
            "meta": {
                "current_page": page,
                "last_page": last_page,
                "per_page": per_page,
                "total": total,
                "request_id": request_id,
            },
            "links": {
                "next": link(page + 1) if more else None,
                "prev": link(page - 1) if 1 < page <= last_page + 1 else None,
            },
        }
    return _json(payload, 200)
