"""The framework-free core of a webhook endpoint: verify, de-duplicate, acknowledge, handle.

The FastAPI and aiohttp integrations are thin adapters over :class:`WebhookReceiver`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any, Literal

import anyio
import attrs

from .._exceptions import InvalidSignatureError
from ._construct import DEFAULT_TOLERANCE, construct_event
from ._errors import InvalidPayloadError
from ._events import WebhookEvent
from .stores import EventStore, MemoryEventStore, StoredEvent

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_BODY_SIZE",
    "Handler",
    "Reception",
    "WebhookReceiver",
    "read_limited",
]

logger = logging.getLogger("visiono_async.webhooks")

Handler = Callable[[WebhookEvent], Awaitable[None]]
"""``async def handler(event: WebhookEvent) -> None``."""

SecretSource = str | bytes | Callable[[], str | bytes]

DEFAULT_LEASE = 300.0
"""Seconds a handler run holds its claim; after that the event counts as pending again."""

DEFAULT_MAX_BODY_SIZE = 1 << 20
"""The largest webhook body a receiver reads (1 MiB); Visiono's events are a few KiB."""


async def read_limited(
    chunks: AsyncIterable[bytes], content_length: str | None, limit: int
) -> bytes | None:
    """A request body read from ``chunks``, or ``None`` as soon as it is known to exceed
    ``limit`` bytes: from its ``Content-Length`` before reading anything, else from the
    bytes read so far (never more than ``limit`` plus one chunk is held)."""
    declared = content_length.strip() if content_length is not None else ""
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


@attrs.frozen
class Reception:
    """What to answer a delivery, and the handler run to start once the answer is sent.

    Attributes:
        status_code: 202 accepted, 200 duplicate or handled, 400 rejected, 413 body too
            large, 500 handler or store failure, 503 no secret configured yet.
        body: A small JSON object: ``{"status": ...}``; for errors a ``"detail"``, and for
            rejections a ``"reason"``: ``invalid_signature``, ``stale_timestamp`` (signed
            right, outside the replay window), ``invalid_payload`` or ``too_large``.
        event: The verified event, when verification succeeded.
        run: The handler run to await after responding (``None`` when there is nothing to
            run, or the handler already ran before the response).
    """

    status_code: int
    body: dict[str, Any]
    event: WebhookEvent | None = None
    run: Callable[[], Awaitable[None]] | None = attrs.field(default=None, repr=False)


class WebhookReceiver:
    """Verifies deliveries, de-duplicates them through a store and runs your handler once.

    How an event survives a failing handler: every verified event is stored before the
    response, and stays ``pending`` (or ``failed``) in the store until a handler run
    returns. A later delivery of the same event (Visiono's retry, or a duplicate) finds it
    unhandled and runs the handler again; :meth:`redeliver_pending` does the same for every
    such event, e.g. at start-up or on a timer. A *claim* in the store keeps two runs of
    one event from overlapping, across processes when the store is shared.

    Args:
        secret: The endpoint's signing secret, or a function returning it (read on every
            delivery, so it can be set after start-up).
        handler: ``async def handler(event)``; dispatch on the event's class.
        store: Where events are kept; a new :class:`MemoryEventStore` by default.
        tolerance: Seconds the body's signed ``timestamp`` may be from now: the replay
            window, one hour by default (Visiono documents none; this is the SDK's choice).
            A delivery outside it is rejected with reason ``stale_timestamp``. ``None``
            turns the check off; de-duplication by delivery id still applies.
        max_body_size: The largest body accepted, in bytes (1 MiB by default); a larger
            one is answered 413 without being read whole or stored.
        lease: Seconds a handler run may take before the event may be run again.
        ack: ``"immediately"`` (the default) answers 202 as soon as the event is stored and
            runs the handler after the response; a failure is logged and the event stays
            pending. ``"after_handler"`` runs the handler first and answers 500 when it
            raises, so Visiono retries the delivery (1, 5, 30 minutes later).
    """

    def __init__(
        self,
        secret: SecretSource,
        handler: Handler,
        *,
        store: EventStore | None = None,
        tolerance: float | None = DEFAULT_TOLERANCE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        lease: float = DEFAULT_LEASE,
        ack: Literal["immediately", "after_handler"] = "immediately",
    ) -> None:
        if ack not in ("immediately", "after_handler"):
            raise ValueError("ack must be 'immediately' or 'after_handler'")
        self._secret = secret
        self._handler = handler
        self.store: EventStore = store if store is not None else MemoryEventStore()
        self.tolerance = tolerance
        self.max_body_size = max_body_size
        self.lease = lease
        self.ack = ack

    def __repr__(self) -> str:
        return f"WebhookReceiver(store={self.store!r}, ack={self.ack!r})"

    def _current_secret(self) -> str | bytes:
        return self._secret() if callable(self._secret) else self._secret

    async def receive_stream(
        self, chunks: AsyncIterable[bytes], headers: Mapping[str, str]
    ) -> Reception:
        """Like :meth:`receive`, reading the body from ``chunks`` no further than
        ``max_body_size`` (a larger one, by ``Content-Length`` or by its bytes, is 413)."""
        length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        raw_body = await read_limited(chunks, length, self.max_body_size)
        if raw_body is None:
            return self._too_large()
        return await self.receive(raw_body, headers)

    async def receive(self, raw_body: bytes, headers: Mapping[str, str]) -> Reception:
        """Verify, store and (depending on ``ack``) handle one delivery.

        Args:
            raw_body: The request body's exact bytes.
            headers: The request headers.

        Returns:
            The response to send, and the handler run to start after sending it.
        """
        if len(raw_body) > self.max_body_size:
            return self._too_large()
        secret = self._current_secret()
        if not secret:
            # Not yet configured (e.g. the endpoint is still being registered): not the
            # sender's fault, so ask for a retry instead of rejecting.
            logger.error("webhook delivery received before the receiver has a secret")
            return Reception(503, {"status": "error", "detail": "no webhook secret configured"})
        try:
            event = construct_event(raw_body, headers, secret, tolerance=self.tolerance)
        except (InvalidSignatureError, InvalidPayloadError) as exc:
            logger.warning("rejected a webhook delivery (%s): %s", exc.reason, exc)
            return Reception(400, {"status": "rejected", "reason": exc.reason, "detail": str(exc)})
        try:
            stored = await self._claim(event)
        except Exception:
            # Nothing is acknowledged, so Visiono delivers again later.
            logger.exception("could not store webhook delivery %s", event.delivery_id)
            return Reception(500, {"status": "error", "detail": "the event store failed"}, event)
        if stored is None:
            return Reception(200, {"status": "duplicate"}, event)
        if self.ack == "after_handler":
            if await self._handle(stored):
                return Reception(200, {"status": "handled"}, event)
            return Reception(500, {"status": "error", "detail": "the handler failed"}, event)

        async def run() -> None:
            await self._handle(stored)

        return Reception(202, {"status": "accepted"}, event, run=run)

    def _too_large(self) -> Reception:
        logger.warning("rejected a webhook delivery over %d bytes", self.max_body_size)
        detail = f"the body exceeds {self.max_body_size} bytes"
        return Reception(413, {"status": "rejected", "reason": "too_large", "detail": detail})

    async def _claim(self, event: WebhookEvent) -> StoredEvent | None:
        """Store ``event``; the stored event when this delivery should run the handler."""
        added = await self.store.add(event, lease=self.lease)
        if added.created:
            return added.stored
        if added.stored is not None and await self.store.claim(added.stored, lease=self.lease):
            return added.stored  # stored earlier and never handled: run it again
        return None

    async def _handle(self, stored: StoredEvent) -> bool:
        """Run the handler for a claimed event and record the outcome; True on success."""
        try:
            await self._handler(stored.event)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._record(stored, "cancelled")
            raise
        except Exception as exc:
            logger.exception(
                "webhook handler failed for %s %s; the event stays pending",
                stored.event.type,
                stored.event.delivery_id,
            )
            with anyio.CancelScope(shield=True):
                await self._record(stored, exc)
            return False
        with anyio.CancelScope(shield=True):
            await self._record(stored, None)
        return True

    async def _record(self, stored: StoredEvent, error: BaseException | str | None) -> None:
        try:
            if error is None:
                await self.store.mark_handled(stored)
            else:
                await self.store.mark_failed(stored, error)
        except Exception:
            # The claim runs out after ``lease`` and the event is pending again.
            logger.exception("could not record the outcome of webhook %s", stored.digest)

    async def redeliver_pending(self, *, limit: int = 100) -> int:
        """Run the handler again for stored events that were never handled.

        Events whose handler is running (claimed) are skipped, as are events claimed by
        another process meanwhile.

        Args:
            limit: At most this many events.

        Returns:
            How many handler runs succeeded.
        """
        succeeded = 0
        for stored in await self.store.pending(limit=limit):
            if await self.store.claim(stored, lease=self.lease) and await self._handle(stored):
                succeeded += 1
        return succeeded

    async def redeliver_forever(self, *, interval: float = 60.0) -> None:
        """Call :meth:`redeliver_pending` every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.redeliver_pending()
            except Exception:
                logger.exception("redelivering pending webhook events failed")
            await anyio.sleep(interval)

    async def aclose(self) -> None:
        """Close the store."""
        await self.store.aclose()
