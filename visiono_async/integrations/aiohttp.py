"""aiohttp.web integration: a webhook handler factory and a clean-up context.

::

    receiver = WebhookReceiver(secret, handle_event)
    app = web.Application()
    app.router.add_post("/webhooks/visiono", webhook_handler(receiver))
    app.cleanup_ctx.append(receiver_context(receiver))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import anyio
from aiohttp import web

from ..webhooks import WebhookReceiver
from ._stores import check_store_is_shared

__all__ = ["receiver_context", "webhook_handler"]

AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def webhook_handler(receiver: WebhookReceiver) -> AiohttpHandler:
    """An aiohttp handler that receives Visiono webhooks through ``receiver``.

    It answers 202 (new), 200 (duplicate), 400 (bad signature or body, with a ``reason``),
    413 (a body over the receiver's ``max_body_size``, refused before it is read whole) or
    500 (the store failed). With ``ack="immediately"`` the response is sent in full before the handler
    runs, so Visiono is acknowledged even when the handler is slow or raises.

    Args:
        receiver: The receiver: secret, handler and store. With several worker processes
            give it a shared store (``SQLiteEventStore``, ``RedisEventStore``): a
            ``MemoryEventStore`` de-duplicates per process.

    Returns:
        A handler for ``app.router.add_post(path, handler)``.
    """
    check_store_is_shared(receiver)

    async def handle(request: web.Request) -> web.StreamResponse:
        chunks = request.content.iter_chunked(64 * 1024)
        reception = await receiver.receive_stream(chunks, request.headers)
        response = web.json_response(reception.body, status=reception.status_code)
        if reception.run is None:
            return response
        # Send the whole response first; the handler then runs in this request's task.
        await response.prepare(request)
        await response.write_eof()
        await reception.run()
        return response

    return handle


def receiver_context(
    receiver: WebhookReceiver, *, redeliver_interval: float | None = 60.0
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An ``app.cleanup_ctx`` entry: redeliver pending events, close the store on shutdown.

    Args:
        receiver: The receiver whose stored, unhandled events to re-run.
        redeliver_interval: Seconds between redelivery passes; ``None`` for start-up only.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        try:
            async with anyio.create_task_group() as tg:
                if redeliver_interval is None:
                    tg.start_soon(receiver.redeliver_pending)
                else:
                    tg.start_soon(partial(receiver.redeliver_forever, interval=redeliver_interval))
                yield
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await receiver.aclose()

    return context
