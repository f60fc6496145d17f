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


def paginated(
    request: web.Request, records: Sequence[T], render: Callable[[T], dict[str, Any]]
) -> web.Response:
    """One page of ``records`` with page-number meta and absolute ``links``."""
    page, per_page = parse_page(request.query)
    total = len(records)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    window = records[start : start + per_page]

    def link(number: int) -> str:
        return str(request.url.update_query(page=str(number), per_page=str(per_page)))

    payload = {
        "data": [render(record) for record in window],
        "meta": {
            "current_page": page,
            "last_page": last_page,
            "per_page": per_page,
            "total": total,
            "request_id": current().request_id,
        },
        "links": {
            "next": link(page + 1) if page < last_page else None,
            "prev": link(page - 1) if 1 < page <= last_page + 1 else None,
        },
    }
    return _json(payload, 200)
