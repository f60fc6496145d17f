"""``/_emulator/...``: drive the recipient side over HTTP when the emulator runs as a process.

``visiono emulator`` users who test code in another language (or another process) cannot call
``simulate_submission`` in Python; these routes do the same over loopback. They are not part
of Visiono's API and need no key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._jpeg import upload_type

if TYPE_CHECKING:
    from ._emulator import VisionoEmulator

__all__ = ["CONTROL_PREFIX", "add_control_routes"]

CONTROL_PREFIX = "/_emulator"


def add_control_routes(app: web.Application, emulator: VisionoEmulator) -> None:
    """Register the control routes of ``emulator`` on ``app``."""

    async def submit_photo(request: web.Request) -> web.Response:
        q = request.query
        content = await request.read()
        return await _answer(
            emulator.simulate_submission(
                request.match_info["id"],
                q.get("item_id"),
                content=content or None,
                gps=_gps(q),
                mime_type=q.get("mime_type") or _declared_type(request, content),
                size=_number(q, "size", int),
                file_name=q.get("file_name"),
            )
        )

    async def submit_smart_link_photo(request: web.Request) -> web.Response:
        q = request.query
        content = await request.read()
        return await _answer(
            emulator.simulate_smart_link_submission(
                request.match_info["id"],
                q.get("item_id"),
                unique_value=q.get("unique_value", "ABC-123"),
                full_name=q.get("full_name"),
                content=content or None,
                gps=_gps(q),
                mime_type=q.get("mime_type") or _declared_type(request, content),
                file_name=q.get("file_name"),
            )
        )

    async def view(request: web.Request) -> web.Response:
        await _answer(emulator.simulate_view(request.match_info["id"]))
        return web.json_response({"data": {"viewed": True}})

    async def advance_time(request: web.Request) -> web.Response:
        seconds = _number(request.query, "seconds", float)
        if seconds is None or seconds < 0:
            raise _bad("seconds must be a number >= 0")
        emulator.advance_time(seconds)
        return web.json_response({"data": {"now": emulator.now()}})

    router = app.router
    router.add_post(f"{CONTROL_PREFIX}/photo-requests/{{id}}/submissions", submit_photo)
    router.add_post(f"{CONTROL_PREFIX}/photo-requests/{{id}}/view", view)
    router.add_post(f"{CONTROL_PREFIX}/smart-links/{{id}}/submissions", submit_smart_link_photo)
    router.add_post(f"{CONTROL_PREFIX}/advance-time", advance_time)


def _declared_type(request: web.Request, content: bytes) -> str:
    # request.content_type reads a missing header as application/octet-stream: look at
    # the header itself, and at the bytes when it says nothing (see upload_type).
    return upload_type(request.headers.get("Content-Type"), content)


async def _answer(call: Any) -> web.Response:
    try:
        result = await call
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return web.json_response({"data": result}, status=201)


def _bad(message: str) -> web.HTTPUnprocessableEntity:
    body = {"error": {"code": "simulation_refused", "message": message, "details": {}}}
    return web.HTTPUnprocessableEntity(text=json.dumps(body), content_type="application/json")


def _number(query: Any, name: str, kind: type[Any]) -> Any:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise _bad(f"{name} must be a number, got {raw!r}") from None


def _gps(query: Any) -> tuple[float, float] | None:
    lat, lng = _number(query, "lat", float), _number(query, "lng", float)
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        raise _bad("give both lat and lng")
    return (lat, lng)
