"""WebhookReceiver: the framework-free core behind the FastAPI and aiohttp receivers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.webhooks.conftest import Backend
from tests.webhooks.helpers import SECRET
from visiono_async.webhooks import (
    EventStatus,
    PhotoRequestSubmitted,
    SubmissionCreated,
    WebhookEvent,
    WebhookReceiver,
    build_delivery,
    compute_signature,
)

pytestmark = pytest.mark.anyio  # before collection, for the parametrized backend fixture

DATA = {"photo_request": {"id": "pr_1", "status": "submitted"}}


class Calls:
    """A handler counting its runs; it raises while ``failing`` is set."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.failing = False

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        await anyio.lowlevel.checkpoint()  # let concurrent deliveries interleave with the handler
        if self.failing:
            raise RuntimeError("downstream is down")


async def deliver(receiver: WebhookReceiver, delivery: Any) -> int:
    """Receive one delivery and, as a framework would, run the handler after answering."""
    reception = await receiver.receive(delivery.body, delivery.headers)
    if reception.run is not None:
        await reception.run()
    return reception.status_code


class TestReceive:
    async def test_answers(self) -> None:
        """202 new, 200 duplicate, 400 forged; the handler sees the typed event once."""
        calls = Calls()
        receiver = WebhookReceiver(SECRET, calls)
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        forged = build_delivery("photo_request.submitted", DATA, "whsec_other")
        assert [202, 200, 400] == [await deliver(receiver, d) for d in (delivery, delivery, forged)]
        [event] = calls.events
        assert isinstance(event, PhotoRequestSubmitted)

    async def test_rejections_name_their_reason(self) -> None:
        """400 bodies carry ``reason``: forged, stale (signed right, two hours old), malformed."""
        receiver = WebhookReceiver(SECRET, Calls())
        old = datetime.now(timezone.utc) - timedelta(hours=2)
        cases = {
            "invalid_signature": build_delivery("photo_request.submitted", DATA, "whsec_x"),
            "stale_timestamp": build_delivery(
                "photo_request.submitted", DATA, SECRET, timestamp=old
            ),
            "invalid_payload": build_delivery(
                "photo_request.submitted", {"photo_request": None}, SECRET
            ),
        }
        for reason, delivery in cases.items():
            reception = await receiver.receive(delivery.body, delivery.headers)
            assert (400, reason) == (reception.status_code, reception.body["reason"])

    async def test_a_workflow_mode_delivery_is_filed_under_its_smart_link(self) -> None:
        """The documented submission.created (no timestamp) is accepted once and stored
        under the smart link's id, not the ``sl_`` id taken for a photo request."""
        data = {
            "photo_request": {"id": "sl_123", "custom_slug": "damage-report"},
            "permanent_link_submission": {"id": "pls_456", "unique_field_value": "ABC123"},
        }
        body = json.dumps({"event": "submission.created", "data": data}).encode()
        headers = {
            "X-Visiono-Signature": compute_signature(body, SECRET),
            "X-Visiono-Delivery": "dlv_1",
        }
        calls = Calls()
        receiver = WebhookReceiver(SECRET, calls)
        first = await receiver.receive(body, headers)
        again = await receiver.receive(body, headers)
        assert (202, 200) == (first.status_code, again.status_code)
        [stored] = await receiver.store.list_events("sl_123")
        assert isinstance(stored.event, SubmissionCreated)
        assert [] == await receiver.store.list_events("pr_123")

    async def test_a_body_over_the_default_limit_is_413(self) -> None:
        """5 MB is refused (the default limit is 1 MiB) before anything is parsed or stored."""
        receiver = WebhookReceiver(SECRET, Calls())
        assert 1 << 20 == receiver.max_body_size
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        reception = await receiver.receive(b"x" * 5_000_000, delivery.headers)
        assert (413, "too_large") == (reception.status_code, reception.body["reason"])

    async def test_a_streamed_body_is_read_no_further_than_the_limit(self) -> None:
        """``receive_stream`` stops pulling chunks once they pass ``max_body_size``, and a
        Content-Length over it stops it before the first chunk."""
        pulled = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal pulled
            for _ in range(1000):
                pulled += 1
                yield b"x" * 1000

        receiver = WebhookReceiver(SECRET, Calls(), max_body_size=10_000)
        reception = await receiver.receive_stream(chunks(), {})
        assert (413, 11) == (reception.status_code, pulled)
        pulled = 0
        reception = await receiver.receive_stream(chunks(), {"Content-Length": "1000000"})
        assert (413, 0) == (reception.status_code, pulled)

    async def test_the_secret_may_be_supplied_later(self) -> None:
        """A callable secret is read per delivery; until it is set, deliveries get 503."""
        secret = {"value": ""}
        receiver = WebhookReceiver(lambda: secret["value"], Calls())
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        assert 503 == await deliver(receiver, delivery)
        secret["value"] = SECRET
        assert 202 == await deliver(receiver, delivery)

    async def test_the_handler_result_is_recorded(self) -> None:
        """A failed run is recorded with its error; the next delivery runs it again."""
        calls = Calls()
        calls.failing = True
        receiver = WebhookReceiver(SECRET, calls)
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        assert 202 == await deliver(receiver, delivery)
        [failed] = await receiver.store.list_events("pr_1")
        assert (EventStatus.FAILED, "RuntimeError: downstream is down") == (
            failed.status,
            failed.last_error,
        )
        calls.failing = False
        assert 202 == await deliver(receiver, delivery)
        [handled] = await receiver.store.list_events("pr_1")
        assert (EventStatus.HANDLED, 2) == (handled.status, handled.attempts)

    async def test_a_cancelled_handler_releases_its_claim(self) -> None:
        """Cancelling a handler run leaves the event pending for a later run."""
        started = anyio.Event()

        async def hangs(event: WebhookEvent) -> None:
            started.set()
            await anyio.sleep_forever()

        receiver = WebhookReceiver(SECRET, hangs)
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        async with anyio.create_task_group() as tg:
            tg.start_soon(deliver, receiver, delivery)
            await started.wait()
            tg.cancel_scope.cancel()
        [pending] = await receiver.store.pending()
        assert (EventStatus.FAILED, "cancelled") == (pending.status, pending.last_error)

    def test_repr_shows_no_secret(self) -> None:
        """The receiver's repr names its store and mode, never the secret."""
        assert SECRET not in repr(WebhookReceiver(SECRET, Calls()))

    def test_an_unknown_ack_mode_is_refused(self) -> None:
        """ack is checked when the receiver is built."""
        with pytest.raises(ValueError, match="ack"):
            WebhookReceiver(SECRET, Calls(), ack="later")  # type: ignore[arg-type]


class TestConcurrency:
    async def test_a_hundred_concurrent_deliveries_run_the_handler_once(
        self, backend: Backend
    ) -> None:
        """100 concurrent copies of one delivery: stored once, handler once, all 2xx.

        With the persistent backends the copies are spread over four receivers sharing
        the store, as four replicas of a service would.
        """
        calls = Calls()
        replicas = 1 if backend.name == "memory" else 4
        shared = backend.store()
        receivers = [
            WebhookReceiver(SECRET, calls, store=shared if i == 0 else backend.store())
            for i in range(replicas)
        ]
        delivery = build_delivery("photo_request.submitted", DATA, SECRET)
        statuses: list[int] = []

        async def one(receiver: WebhookReceiver) -> None:
            statuses.append(await deliver(receiver, delivery))

        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(one, receivers[i % replicas])
        assert [202] + [200] * 99 == sorted(statuses, reverse=True)
        assert 1 == len(calls.events)
        assert 1 == len(await shared.list_events("pr_1"))

    async def test_redelivery_runs_each_pending_event_once_across_replicas(
        self, backend: Backend
    ) -> None:
        """Several replicas redelivering at once still run each failed event once."""
        calls = Calls()
        calls.failing = True
        first = WebhookReceiver(SECRET, calls, store=backend.store())
        for i in range(5):
            data = {"photo_request": {"id": f"pr_{i}"}}
            await deliver(first, build_delivery("photo_request.expired", data, SECRET))
        calls.failing = False
        calls.events.clear()
        replicas = [first] + [
            WebhookReceiver(SECRET, calls, store=backend.store())
            for _ in range(0 if backend.name == "memory" else 3)
        ]
        succeeded: list[int] = []

        async def redeliver(receiver: WebhookReceiver) -> None:
            succeeded.append(await receiver.redeliver_pending())

        async with anyio.create_task_group() as tg:
            for receiver in replicas:
                tg.start_soon(redeliver, receiver)
        assert 5 == sum(succeeded)
        assert 5 == len({e.photo_request_id for e in calls.events})
        assert 5 == len(calls.events)
