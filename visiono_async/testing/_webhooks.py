"""Webhook deliveries: signed POSTs to registered endpoints, retried on a schedule.

Deliveries run in an anyio task group owned by the emulator, so closing the emulator
cancels pending retries cleanly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import aiohttp
import anyio
import attrs
from anyio.abc import TaskGroup

from ._clock import EmulatorClock, isoformat
from ._models import WebhookEndpoint
from ._store import Store

__all__ = ["Delivery", "DeliveryAttempt", "WebhookDispatcher", "sign"]

RETRY_DELAYS = (60.0, 300.0, 1800.0)
TIMEOUT = 30.0
SWEEP_INTERVAL = 1.0
TEST_EVENT = "webhook.test"
_log = logging.getLogger("visiono_async.testing")


def sign(body: bytes, secret: str) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body`` with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@attrs.define
class DeliveryAttempt:
    """One POST of a delivery.

    Attributes:
        number: 1 for the first attempt, 2 to 4 for the retries.
        time: When it was sent, on the emulator clock.
        delay: Seconds waited after the previous attempt (the retry schedule times
            ``webhook_time_factor``; 0 for the first attempt).
        status_code: The receiver's status, ``None`` when no response came.
        error: Why no response came (connection refused, timeout...).
    """

    number: int
    time: float
    delay: float = 0.0
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


@attrs.define
class Delivery:
    """One event sent to one endpoint, with every attempt made so far.

    Attributes:
        id: ``dlv_`` and 32 hex digits; the same on every retry (``X-Visiono-Delivery``).
        endpoint_id: The ``wh_`` endpoint.
        url: Where it is sent.
        event: The event name (``webhook.test`` for ``POST /webhooks/{id}/test``).
        body: The exact bytes sent (and signed), the same on every retry.
        headers: The headers sent (the signature, never the secret).
        attempts: Every attempt so far.
        delivered: A 2xx came back.
        done: Delivered, or every attempt failed, or the endpoint went away.
    """

    id: str
    endpoint_id: str
    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    attempts: list[DeliveryAttempt] = attrs.field(factory=list)
    delivered: bool = False
    done: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        """The parsed body."""
        result: dict[str, Any] = json.loads(self.body)
        return result


class WebhookDispatcher:
    """Turns domain events into deliveries and sends them while the emulator runs."""

    def __init__(
        self,
        store: Store,
        clock: EmulatorClock,
        tenant_id: str,
        time_factor: float,
        timeout: float = TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._tenant_id = tenant_id
        self._factor = time_factor
        self._timeout = timeout
        self.deliveries: list[Delivery] = []
        self._changed: anyio.Event | None = None
        self._locks: dict[str, anyio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task_group: TaskGroup | None = None
        self._host: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float:
        """Seconds a receiver has to answer one attempt (Visiono's 30 s unless set)."""
        return self._timeout

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and the task group that runs deliveries."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=False
        )
        ready = anyio.Event()
        # The task group lives in a task of its own: start() and aclose() may run in
        # different tasks (pytest-asyncio fixtures do that) or inside different cancel
        # scopes, and a task group must be entered and exited in one task, properly
        # nested. aclose() cancels this task's group and awaits the task.
        self._host = asyncio.get_running_loop().create_task(
            self._run(ready), name="visiono-emulator-webhooks"
        )
        await ready.wait()

    async def _run(self, ready: anyio.Event) -> None:
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            task_group.start_soon(self._sweep)
            ready.set()
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        """Cancel pending deliveries and retries, then close the session."""
        host, self._host = self._host, None
        task_group, self._task_group = self._task_group, None
        session, self._session = self._session, None
        with anyio.CancelScope(shield=True):
            if task_group is not None:
                task_group.cancel_scope.cancel()
            if host is not None:
                await asyncio.wait({host})
                if not host.cancelled() and host.exception() is not None:
                    _log.error("Visiono emulator: webhook task failed", exc_info=host.exception())
            if session is not None:
                await session.close()

    async def _sweep(self) -> None:
        # Expiry is also evaluated on every request and advance_time; this catches requests
        # that expire in real time while nobody asks.
        while True:
            await anyio.sleep(SWEEP_INTERVAL)
            try:
                self._store.expire_due()
            except Exception:
                _log.exception("Visiono emulator: expiry sweep failed")

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Queue one delivery per active endpoint subscribed to ``event``."""
        if self._task_group is None:
            return
        for endpoint in self._store.list_webhooks()[::-1]:
            if endpoint.is_active and event in endpoint.events:
                delivery = self._prepare(endpoint, event, data)
                self._task_group.start_soon(self._deliver, delivery)

    def _prepare(self, endpoint: WebhookEndpoint, event: str, data: dict[str, Any]) -> Delivery:
        # Signed with the real time of the event, not the emulator clock: a receiver checks
        # the timestamp against its own clock, so a test that moves the emulator a day
        # ahead must not make every later delivery look like a replay. (Visiono does not
        # say whether the timestamp is the event's time or the delivery's: the emulator's
        # choice is the event's, the same for every retry of one body.)
        payload: dict[str, Any] = {
            "event": event,
            "timestamp": isoformat(time.time()),
            "data": data,
        }
        if event == "submission.created":
            del payload["timestamp"]  # Workflow Mode's webhook, as documented, has none
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery_id = "dlv_" + uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Visiono-Webhooks/1.0 (visiono_async emulator)",
            "X-Visiono-Event": event,
            "X-Visiono-Delivery": delivery_id,
            "X-Visiono-Signature": sign(body, endpoint.secret),
            "X-Visiono-Tenant-Id": self._tenant_id,
        }
        delivery = Delivery(delivery_id, endpoint.id, endpoint.url, event, body, headers)
        self.deliveries.append(delivery)
        self._notify()
        return delivery

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            for number, base_delay in enumerate((0.0, *RETRY_DELAYS), start=1):
                delay = base_delay * self._factor
                if delay:
                    await self._clock.sleep(delay)
                endpoint = self._store.webhooks.get(delivery.endpoint_id)
                if endpoint is None or not endpoint.is_active:
                    break
                lock = self._locks.setdefault(endpoint.id, anyio.Lock())
                # One attempt at a time per endpoint keeps first attempts in event order.
                async with lock:
                    attempt = await self._attempt(delivery, number, delay)
                if attempt.ok:
                    delivery.delivered = True
                    break
        except Exception:
            _log.exception("Visiono emulator: webhook delivery %s failed", delivery.id)
        finally:
            delivery.done = True
            self._notify()

    async def _attempt(
        self, delivery: Delivery, number: int, delay: float = 0.0
    ) -> DeliveryAttempt:
        attempt = DeliveryAttempt(number, self._clock.now(), delay)
        delivery.attempts.append(attempt)
        assert self._session is not None
        try:
            async with self._session.post(
                delivery.url, data=delivery.body, headers=delivery.headers, allow_redirects=False
            ) as response:
                await response.read()
                attempt.status_code = response.status
        except (TimeoutError, asyncio.TimeoutError):
            attempt.error = f"timeout after {self.timeout:g} s"
        except aiohttp.ClientError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        self._notify()
        return attempt

    async def send_test(self, endpoint: WebhookEndpoint) -> Delivery:
        """Send one ``webhook.test`` delivery now, without retries."""
        data = {
            "webhook": {"id": endpoint.id, "url": endpoint.url},
            "message": "This is a test delivery from Visiono.",
        }
        delivery = self._prepare(endpoint, TEST_EVENT, data)
        try:
            if self._session is not None:
                attempt = await self._attempt(delivery, 1)
                delivery.delivered = attempt.ok
        finally:
            delivery.done = True
            self._notify()
        return delivery

    # -- waiting ----------------------------------------------------------------------------

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait(self, count: int | None, timeout: float) -> list[Delivery]:
        """Wait until ``count`` deliveries are done (``None``: all of them).

        Raises:
            TimeoutError: Not reached within ``timeout`` seconds.
        """

        def reached() -> bool:
            done = sum(1 for d in self.deliveries if d.done)
            if count is None:
                return done == len(self.deliveries)
            return done >= count

        try:
            with anyio.fail_after(timeout):
                while not reached():
                    if self._changed is None:
                        self._changed = anyio.Event()
                    await self._changed.wait()
        except TimeoutError:
            done = sum(1 for d in self.deliveries if d.done)
            wanted = "all" if count is None else str(count)
            raise TimeoutError(
                f"waited {timeout:g} s for {wanted} webhook deliveries to finish; "
                f"{done} of {len(self.deliveries)} are done"
            ) from None
        return list(self.deliveries)
