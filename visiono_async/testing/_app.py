"""The aiohttp application: API routes under ``/api/v1`` and ``/v1``, storage, pages."""

from __future__ import annotations

from aiohttp import web

from . import _routes_account, _routes_photo_requests, _routes_smart_links, _routes_webhooks
from ._backend import BACKEND, Backend
from ._middleware import API_PREFIXES, emulator_middleware
from ._routes_public import add_public_routes
from ._routing import Route, guarded
from ._storage import MEMORY_STORAGE, serve_storage

__all__ = ["API_ROUTES", "build_app"]

API_ROUTES: list[Route] = [
    *_routes_photo_requests.ROUTES,
    *_routes_smart_links.ROUTES,
    *_routes_webhooks.ROUTES,
    *_routes_account.ROUTES,
]


def build_app(backend: Backend) -> web.Application:
    """An app serving ``backend``; every request goes through the emulator middleware."""
    app = web.Application(middlewares=[emulator_middleware])
    app[BACKEND] = backend
    for prefix in API_PREFIXES:
        for route in API_ROUTES:
            app.router.add_route(route.method, prefix + route.path, guarded(route))
    if backend.memory_storage is not None:
        app[MEMORY_STORAGE] = backend.memory_storage
        app.router.add_get("/storage/{key:.+}", serve_storage)
    add_public_routes(app.router)
    return app
