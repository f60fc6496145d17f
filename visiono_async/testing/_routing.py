"""Route declarations: each API route names the scope it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web

from ._backend import BACKEND, Backend
from ._context import current
from ._errors import ApiProblem

__all__ = ["Handler", "Route", "backend", "guarded"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Route:
    """An API route, relative to the ``/api/v1`` (or ``/v1``) prefix."""

    method: str
    path: str
    handler: Handler
    scope: str | None = None


def backend(request: web.Request) -> Backend:
    """The emulator state behind ``request``."""
    return request.app[BACKEND]


def guarded(route: Route) -> Handler:
    """The route's handler, refusing keys without the route's scope (403)."""
    scope = route.scope
    handler = route.handler
    if scope is None:
        return handler

    async def check_scope(request: web.Request) -> web.StreamResponse:
        key = current().key
        if key is None or scope not in key.scopes:
            raise ApiProblem(
                403,
                "insufficient_scope",
                f"This API key is missing the required scope: {scope}",
                details={"scope": [scope]},
                extra={"required_scope": scope},
            )
        return await handler(request)

    return check_scope
