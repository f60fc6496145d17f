"""FastAPI integration (the ``fastapi`` extra): one shared client, a webhook router.

::

    receiver = WebhookReceiver(secret, handle_event, store=SQLiteEventStore("events.db"))
    app = FastAPI(lifespan=visiono_lifespan(receiver=receiver))
    app.include_router(webhook_router(receiver))

    @app.get("/photo-requests/{photo_request_id}")
    async def show(photo_request_id: str, client: VisionoClientDep) -> PhotoRequest:
        return await client.photo_requests.get(photo_request_id)

``VisionoClientDep`` is ``Annotated[VisionoClient, Depends(visiono_client)]``. SDK models are
pydantic types (a route may be typed ``-> PhotoRequest``); importing this module also lets
an untyped route return one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Annotated, Any

import anyio

from .._extras import require_extra

with require_extra("fastapi", "visiono_async.integrations.fastapi"):
    from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
    from fastapi.encoders import ENCODERS_BY_TYPE
    from fastapi.responses import JSONResponse, Response
    from starlette.background import BackgroundTask

from .. import models
from .._client import VisionoClient
from .._exceptions import InvalidSignatureError
from ..webhooks import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_TOLERANCE,
    InvalidPayloadError,
    WebhookEvent,
    WebhookReceiver,
    construct_event,
)
from ..webhooks._receiver import read_limited
from ._stores import check_store_is_shared

__all__ = [
    "STATE_KEY",
    "VisionoClientDep",
    "get_client",
    "verified_event",
    "visiono_client",
    "visiono_lifespan",
    "webhook_router",
]

STATE_KEY = "visiono"
"""The lifespan-state name of the shared client: ``request.state.visiono``."""

# An untyped route that returns a model goes through jsonable_encoder, which knows only
# pydantic models and dataclasses: teach it ours (a typed route uses the pydantic schema).
for _name in models.__all__:
    _model = getattr(models, _name)
    if isinstance(_model, type) and issubclass(_model, models.Model) and _model is not models.Model:
        ENCODERS_BY_TYPE[_model] = _model.to_dict


def webhook_router(
    receiver: WebhookReceiver,
    *,
    path: str = "/webhooks/visiono",
    include_in_schema: bool = False,
) -> APIRouter:
    """A router with one ``POST`` route that receives Visiono webhooks.

    The route reads the raw body, verifies and stores the event through ``receiver``, and
    answers 202 (new), 200 (duplicate), 400 (bad signature or body, with a ``reason``), 413
    (a body over the receiver's ``max_body_size``, refused before it is read whole) or 500
    (the store failed, so Visiono retries). With ``ack="immediately"`` the handler runs after the
    response has been sent; an exception from it is logged and the event stays pending.

    Args:
        receiver: The receiver: secret, handler and store. With several worker processes
            (``uvicorn --workers N``, replicas) give it a shared store, ``SQLiteEventStore``
            or ``RedisEventStore``: a ``MemoryEventStore`` de-duplicates per process, so a
            delivery would run its handler once per worker (logged as a warning when
            ``WEB_CONCURRENCY`` says there are several).
        path: The route's path.
        include_in_schema: Whether the route appears in the OpenAPI schema.

    Returns:
        A router for ``app.include_router(...)``.
    """
    check_store_is_shared(receiver)
    router = APIRouter()

    async def receive_visiono_webhook(request: Request) -> Response:
        reception = await receiver.receive_stream(request.stream(), request.headers)
        background = BackgroundTask(reception.run) if reception.run is not None else None
        return JSONResponse(reception.body, reception.status_code, background=background)

    router.add_api_route(
        path,
        receive_visiono_webhook,
        methods=["POST"],
        include_in_schema=include_in_schema,
        name="visiono_webhook",
    )
    return router


def verified_event(
    secret: str | bytes,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
) -> Callable[[Request], Awaitable[WebhookEvent]]:
    """A dependency that verifies a delivery in your own route (no store, no dedup).

    ::

        @app.post("/hooks")
        async def hook(event: Annotated[WebhookEvent, Depends(verified_event(secret))]): ...

    Args:
        secret: The endpoint's signing secret.
        tolerance: The replay window in seconds (see ``WebhookReceiver``); None: off.
        max_body_size: The largest body read, in bytes.

    Raises (in the route):
        HTTPException: 400 for a bad signature or body (the detail starts with the
            reason: ``invalid_signature``, ``stale_timestamp`` or ``invalid_payload``),
            413 for a body over ``max_body_size``.
    """

    async def dependency(request: Request) -> WebhookEvent:
        raw_body = await read_limited(
            request.stream(), request.headers.get("content-length"), max_body_size
        )
        if raw_body is None:
            raise HTTPException(status_code=413, detail=f"the body exceeds {max_body_size} bytes")
        try:
            return construct_event(raw_body, request.headers, secret, tolerance=tolerance)
        except (InvalidSignatureError, InvalidPayloadError) as exc:
            raise HTTPException(status_code=400, detail=f"{exc.reason}: {exc}") from None

    return dependency


def visiono_lifespan(
    *,
    receiver: WebhookReceiver | None = None,
    client: bool = True,
    redeliver_interval: float | None = 60.0,
    **client_options: Any,
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    """A FastAPI ``lifespan`` that opens one ``VisionoClient`` for the whole app.

    ::

        app = FastAPI(lifespan=visiono_lifespan())                # $VISIONO_API_KEY
        app = FastAPI(lifespan=visiono_lifespan(receiver=receiver, client=False))  # receive only

    Routes get the client through :func:`visiono_client` (``VisionoClientDep``); it is
    closed when the app shuts down. With a ``receiver``, the lifespan also re-runs the
    handler for stored events that were never handled (at start-up, then every
    ``redeliver_interval`` seconds) and closes its store on shutdown.

    Args:
        receiver: A webhook receiver whose pending events to redeliver and store to close.
        client: Whether to open a client. ``False`` for an app that only receives
            webhooks: it then needs no API key (receiving needs only the endpoint secret).
        redeliver_interval: Seconds between redelivery passes; ``None`` for start-up only.
        **client_options: Passed to ``VisionoClient`` (``api_key``, ``base_url``, ...).

    Returns:
        The function to pass as ``FastAPI(lifespan=...)``; it can also be entered inside a
        lifespan of your own (``async with visiono_lifespan(...)(app) as state:``).

    Raises:
        ValueError: ``client=False`` with client options, which would go unused.
    """
    if not client and client_options:
        raise ValueError(
            f"client=False opens no client, so {sorted(client_options)} would go unused"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            state: dict[str, Any] = {}
            if client:
                state[STATE_KEY] = await stack.enter_async_context(VisionoClient(**client_options))
            try:
                async with anyio.create_task_group() as tg:
                    if receiver is not None:
                        if redeliver_interval is None:
                            tg.start_soon(receiver.redeliver_pending)
                        else:
                            tg.start_soon(
                                partial(receiver.redeliver_forever, interval=redeliver_interval)
                            )
                    yield state
                    tg.cancel_scope.cancel()
            finally:
                if receiver is not None:
                    with anyio.CancelScope(shield=True):
                        await receiver.aclose()

    return lifespan


async def visiono_client(request: Request) -> VisionoClient:
    """The app's shared ``VisionoClient``, for ``Depends(visiono_client)``.

    Raises:
        RuntimeError: The app was not created with ``lifespan=visiono_lifespan(...)``, or
            with ``client=False``.
    """
    found = getattr(request.state, STATE_KEY, None)
    if not isinstance(found, VisionoClient):
        raise RuntimeError(
            "no VisionoClient: create the app with lifespan=visiono_lifespan() "
            "(without client=False) to use Depends(visiono_client)"
        )
    return found


get_client = visiono_client
"""The earlier name of :func:`visiono_client`."""

VisionoClientDep = Annotated[VisionoClient, Depends(visiono_client)]
"""A route parameter typed ``client: VisionoClientDep`` receives the app's shared client."""
