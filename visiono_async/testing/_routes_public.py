"""Pages outside the API: QR code images and the recipient-facing link pages."""

from __future__ import annotations

import html

from aiohttp import web

from ._jpeg import tiny_png
from ._routes_workflow import add_workflow_routes, workflow_entry
from ._routing import backend

__all__ = ["add_public_routes"]

_PNG = tiny_png()


async def qr_image(request: web.Request) -> web.StreamResponse:
    """``/qr/{code}.png`` for a known photo request code or smart link slug."""
    code = request.match_info["code"]
    store = backend(request).store
    if store.find_photo_request(code) is None and store.find_smart_link(code) is None:
        raise web.HTTPNotFound()
    return web.Response(body=_PNG, content_type="image/png")


def _page(title: str, text: str) -> web.Response:
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return web.Response(text=body, content_type="text/html")


async def request_page(request: web.Request) -> web.StreamResponse:
    """``/r/{code}``: the recipient's page (emulated views go through ``simulate_view``)."""
    pr = backend(request).store.find_photo_request(request.match_info["code"])
    if pr is None:
        raise web.HTTPNotFound()
    return _page("Visiono photo request", pr.instructions)


async def smart_link_page(request: web.Request) -> web.StreamResponse:
    """``/s/{slug}``: a smart link's upload page; in Workflow Mode, only through a valid
    signed entry link (see ``_routes_workflow``)."""
    sl = backend(request).store.find_smart_link(request.match_info["slug"])
    if sl is None:
        raise web.HTTPNotFound()
    if sl.workflow_secret is not None:
        return await workflow_entry(request, sl)
    return _page("Visiono smart link", sl.instructions)


async def code_entry_page(request: web.Request) -> web.StreamResponse:
    """``/code``: where recipients type a numeric code."""
    return _page("Visiono", "Enter your six-digit code.")


def add_public_routes(router: web.UrlDispatcher) -> None:
    """Register the non-API pages."""
    router.add_get("/qr/{code}.png", qr_image)
    router.add_get("/r/{code}", request_page)
    router.add_get("/s/{slug}", smart_link_page)
    add_workflow_routes(router)
    router.add_get("/code", code_entry_page)
