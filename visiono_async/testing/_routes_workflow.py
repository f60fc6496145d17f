"""Workflow Mode on the emulator: the signed link into a smart link, and the way back.

Visiono documents the link (``/s/{slug}?uv&src&ref&ts&sig``, valid one hour), its error
cases (missing parameters, an invalid signature, an expired link), the signed redirect back
(``sub, uv, ref, cnt, ts, sig``) and the ``submission.created`` webhook. What it does not
document is the emulator's choice: how Workflow Mode is switched on
(``VisionoEmulator.enable_workflow_mode``), the pages' bodies, and ``POST /s/{slug}`` as the
recipient's upload (real Visiono has an upload page there).
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from .._exceptions import InvalidPayloadError, InvalidSignatureError
from ..webhooks._workflow import WorkflowLink, _sign, verify_workflow_link
from ._jpeg import upload_type
from ._models import SmartLink
from ._routing import backend

__all__ = ["add_workflow_routes", "checked_entry", "workflow_entry"]

LINK_MAX_AGE = 3600.0
"""The link into Visiono is valid for one hour (documented)."""


def checked_entry(request: web.Request, sl: SmartLink) -> WorkflowLink:
    """The signed entry link of ``sl`` (in Workflow Mode), checked as Visiono documents.

    Raises:
        web.HTTPBadRequest: Missing parameters, an invalid signature, or an expired link
            (signed more than an hour ago on the emulator clock); the JSON body's
            ``error.code`` says which.
    """
    assert sl.workflow_secret is not None
    try:
        return verify_workflow_link(
            request.query, sl.workflow_secret, LINK_MAX_AGE, now=backend(request).clock.now()
        )
    except InvalidPayloadError as exc:
        raise _page(400, "missing_parameters", str(exc)) from None
    except InvalidSignatureError as exc:
        if "stale" in str(exc):
            raise _page(400, "expired", "This link has expired (older than 1 hour).") from None
        raise _page(400, "invalid_signature", str(exc)) from None


async def workflow_entry(request: web.Request, sl: SmartLink) -> web.Response:
    """``GET /s/{slug}`` of a link in Workflow Mode: the check, then what the page knows."""
    link = checked_entry(request, sl)
    return web.json_response({"data": {"smart_link_id": sl.id, "unique_value": link.unique_value}})


async def workflow_submit(request: web.Request) -> web.Response:
    """``POST /s/{slug}?...``: upload the body as a photo through a signed entry link."""
    b = backend(request)
    sl = b.store.find_smart_link(request.match_info["slug"])
    if sl is None or sl.workflow_secret is None:
        raise _page(404, "not_found", "No smart link in Workflow Mode has this address.")
    link = checked_entry(request, sl)
    secret = sl.workflow_secret
    content = await request.read()
    sl, sub = await b.store.submit_smart_link_photo(
        sl.id,
        None,
        unique_value=link.unique_value,
        full_name=request.query.get("full_name"),
        content=content or None,
        gps=None,
        mime_type=upload_type(request.headers.get("Content-Type"), content),
        file_name=None,
    )
    b.store.event_sink_emit(
        "submission.created",
        {
            "photo_request": {"id": sl.id, "custom_slug": sl.custom_slug},
            "permanent_link_submission": {
                "id": sub.id,
                "unique_field_value": link.unique_value,
                "external_source": link.source,
                "external_reference": link.reference,
            },
        },
    )
    ts = str(int(b.clock.now()))
    count = str(len([s for s in sl.submissions if s.unique_value == link.unique_value]))
    fields = (sub.id, link.unique_value, link.reference, count, ts)
    query = urlencode(
        {
            "sub": sub.id,
            "uv": link.unique_value,
            "ref": link.reference,
            "cnt": count,
            "ts": ts,
            "sig": _sign(fields, secret),
        }
    )
    target = sl.workflow_redirect_url or ""
    separator = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(f"{target}{separator}{query}")


def add_workflow_routes(router: web.UrlDispatcher) -> None:
    """Register ``POST /s/{slug}`` (``GET`` is the smart link page, which checks the link
    when Workflow Mode is on)."""
    router.add_post("/s/{slug}", workflow_submit)


def _page(status: int, code: str, message: str) -> web.HTTPException:
    body = {"error": {"code": code, "message": message}}
    cls = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return cls(text=web.json_response(body).text, content_type="application/json")
