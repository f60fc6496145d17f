"""Webhook deliveries: which events go where, signatures, retries and shutdown."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import anyio
import pytest

from tests.testing.helpers import Api, Receiver
from visiono_async.testing import EmulatorClock, VisionoEmulator
from visiono_async.webhooks import construct_event

pytestmark = pytest.mark.anyio

FACTOR = 0.0005
ALL_EVENTS = [
    "photo_request.created",
    "photo_request.first_viewed",
    "photo_submission.created",
    "photo_request.submitted",
    "photo_request.expired",
]


@pytest.fixture
async def fast() -> AsyncIterator[VisionoEmulator]:
    """An emulator whose retry schedule runs 2000 times faster."""
    async with VisionoEmulator(
        rate_limit_per_minute=10_000, rate_limit_per_hour=100_000, webhook_time_factor=FACTOR
    ) as emu:
        yield emu


@pytest.fixture
def fapi(http: aiohttp.ClientSession, fast: VisionoEmulator) -> Api:
    """A caller on the fast emulator."""
    return Api(http, fast, fast.create_api_key())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver answering 200."""
    async with Receiver() as r:
        yield r


async def subscribe(api: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    """Register ``url`` for ``events`` (all by default); returns the endpoint with secret."""
    reply = await api.post("/webhooks", {"url": url, "events": events or ALL_EVENTS})
    assert reply.status == 201, reply.body
    endpoint: dict[str, Any] = reply.data
    return endpoint


class TestWhatIsSent:
    async def test_headers_body_and_signature(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """A created request is POSTed as signed JSON with the documented headers."""
        endpoint = await subscribe(fapi, receiver.url, ["photo_request.created"])
        pr = await fapi.create(metadata={"ticket_id": "12345"})

        (delivery,) = await fast.wait_for_deliveries(1)

        (headers, body) = receiver.received[0]
        expected = hmac.new(endpoint["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Visiono-Signature"] == f"sha256={expected}"
        assert headers["X-Visiono-Event"] == "photo_request.created"
        assert headers["X-Visiono-Delivery"] == delivery.id
        assert delivery.id.startswith("dlv_")
        assert headers["X-Visiono-Tenant-Id"] == fast.tenant_id
        assert headers["Content-Type"] == "application/json"
        payload = json.loads(body)
        assert payload["event"] == "photo_request.created"
        assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
        assert payload["data"]["photo_request"]["id"] == pr["id"]
        assert payload["data"]["photo_request"]["metadata"] == {"ticket_id": "12345"}
        assert delivery.body == body
        assert delivery.delivered
        assert endpoint["secret"] not in repr(delivery)

    async def test_the_life_cycle_in_order(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """created, first_viewed, one submission per photo, submitted: in that order."""
        await subscribe(fapi, receiver.url)
        pr = await fapi.create(items=[{"instructions": "a"}, {"instructions": "b"}])
        await fast.simulate_view(pr["id"])
        await fast.simulate_view(pr["id"])
        first = await fast.simulate_submission(pr["id"])
        await fast.simulate_submission(pr["id"], gps=(45.4642, 9.19))

        deliveries = await fast.wait_for_deliveries(5)

        assert [d.event for d in deliveries] == [
            "photo_request.created",
            "photo_request.first_viewed",
            "photo_submission.created",
            "photo_submission.created",
            "photo_request.submitted",
        ]
        assert [json.loads(b)["event"] for _, b in receiver.received] == [
            d.event for d in deliveries
        ]
        submission = deliveries[2].payload["data"]
        assert submission["submission"]["id"] == first["id"]
        assert submission["photo_request"]["status"] == "in_progress"
        assert "gps_latitude" not in submission["submission"]
        assert deliveries[3].payload["data"]["submission"]["gps_latitude"] == 45.4642
        done = deliveries[4].payload["data"]["photo_request"]
        assert done["status"] == "submitted"
        assert done["submissions_count"] == 2
        assert done["submitted_at"] is not None
        assert len({d.id for d in deliveries}) == 5

    async def test_only_subscribed_events_to_active_endpoints(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """Each endpoint gets its events; paused endpoints get nothing."""
        async with Receiver() as created_only, Receiver() as paused:
            await subscribe(fapi, created_only.url, ["photo_request.created"])
            off = await subscribe(fapi, paused.url)
            await fapi.call("PATCH", f"/webhooks/{off['id']}", json={"is_active": False})
            pr = await fapi.create()
            await fast.simulate_submission(pr["id"])
            await fast.wait_for_deliveries()

        assert [json.loads(b)["event"] for _, b in created_only.received] == [
            "photo_request.created"
        ]
        assert paused.received == []

    async def test_expiry_is_sent_once(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """Advancing past ``expires_at`` emits ``photo_request.expired`` exactly once."""
        await subscribe(fapi, receiver.url, ["photo_request.expired"])
        pr = await fapi.create(expires_in_hours=1)

        fast.advance_time(3601)
        fast.advance_time(3600)
        await fapi.get(f"/photo-requests/{pr['id']}")
        deliveries = await fast.wait_for_deliveries()

        assert [d.event for d in deliveries] == ["photo_request.expired"]
        assert deliveries[0].payload["data"]["photo_request"]["status"] == "expired"

    async def test_smart_link_uploads_are_sent(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """A smart link upload sends ``photo_submission.created`` with the link."""
        await subscribe(fapi, receiver.url, ["photo_submission.created"])
        link = (await fapi.post("/smart-links", {"instructions": "x"})).data
        sub = await fast.simulate_smart_link_submission(link["id"], unique_value="PLATE")

        (delivery,) = await fast.wait_for_deliveries(1)

        data = delivery.payload["data"]
        assert data["smart_link"]["id"] == link["id"]
        assert data["submission"]["id"] == sub["id"]
        assert data["submission"]["unique_value"] == "PLATE"


class TestRetries:
    async def test_failed_attempts_are_retried_on_schedule(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """After non-2xx answers it retries after 1, 5 and 30 min (scaled), same id and body."""
        async with Receiver([500, 503, 404, 200]) as flaky:
            await subscribe(fapi, flaky.url, ["photo_request.created"])
            await fapi.create()
            (delivery,) = await fast.wait_for_deliveries(1)

        assert [a.status_code for a in delivery.attempts] == [500, 503, 404, 200]
        assert [a.delay for a in delivery.attempts] == [0, 60 * FACTOR, 300 * FACTOR, 1800 * FACTOR]
        assert delivery.delivered
        assert len({h["X-Visiono-Delivery"] for h, _ in flaky.received}) == 1
        assert len({body for _, body in flaky.received}) == 1

    async def test_a_frozen_clock_runs_the_schedule_exactly(
        self, http: aiohttp.ClientSession
    ) -> None:
        """On a frozen clock each retry waits until the clock is moved 1, 5 and 30 min on."""
        start = 1_800_000_000.0
        clock = EmulatorClock(frozen_at=start)
        async with (
            VisionoEmulator(rate_limit_per_minute=10_000, clock=clock) as emu,
            Receiver([500, 503, 404, 200]) as flaky,
        ):
            api = Api(http, emu, emu.create_api_key())
            await subscribe(api, flaky.url, ["photo_request.created"])
            await api.create()
            waits: list[float] = []
            with anyio.fail_after(10):
                while len(waits) < 3:
                    due = await clock.next_wait_ahead()
                    assert len(waits) + 1 == len(flaky.received)  # nothing early
                    waits.append(due - clock.now())
                    clock.advance(due - clock.now())
            (delivery,) = await emu.wait_for_deliveries(1)

        assert [60.0, 300.0, 1800.0] == waits
        assert [start, start + 60, start + 360, start + 2160] == [a.time for a in delivery.attempts]
        assert [500, 503, 404, 200] == [a.status_code for a in delivery.attempts]
        assert delivery.delivered

    async def test_gives_up_after_four_attempts(self, fapi: Api, fast: VisionoEmulator) -> None:
        """Three retries, then the delivery is done and not delivered."""
        async with Receiver(default=500) as broken:
            await subscribe(fapi, broken.url, ["photo_request.created"])
            await fapi.create()
            (delivery,) = await fast.wait_for_deliveries(1)

        assert len(delivery.attempts) == 4
        assert not delivery.delivered
        assert delivery.done

    async def test_unreachable_receivers_record_the_error(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """Connection failures are attempts without a status."""
        async with Receiver() as gone:
            url = gone.url
        await subscribe(fapi, url, ["photo_request.created"])
        await fapi.create()

        (delivery,) = await fast.wait_for_deliveries(1)

        assert all(a.status_code is None for a in delivery.attempts)
        assert all(a.error for a in delivery.attempts)

    async def test_slow_receivers_time_out(self, http: aiohttp.ClientSession) -> None:
        """A receiver slower than ``webhook_timeout`` counts as failed; the retry succeeds."""
        async with (
            VisionoEmulator(webhook_time_factor=FACTOR, webhook_timeout=0.3) as emu,
            Receiver([0, 200], hang=10) as slow,
        ):
            api = Api(http, emu, emu.create_api_key())
            await subscribe(api, slow.url, ["photo_request.created"])
            await api.create()
            (delivery,) = await emu.wait_for_deliveries(1)

        first, second = delivery.attempts
        assert first.status_code is None
        assert "timeout after 0.3 s" == first.error
        assert second.status_code == 200

    @pytest.mark.parametrize("setting", ["webhook_timeout", "webhook_time_factor"])
    @pytest.mark.parametrize("value", [0, -1.0])
    def test_timings_must_be_positive(self, setting: str, value: float) -> None:
        with pytest.raises(ValueError, match=f"{setting} must be positive, got {value}"):
            VisionoEmulator(**{setting: value})

    async def test_the_timeout_is_visionos_30_s_whatever_the_time_factor(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """The time factor scales the retry schedule only: a receiver that takes 1.5 s
        (a loaded machine, a cold app) is answered on the first attempt."""
        async with Receiver([0], hang=1.5) as slow:
            await subscribe(fapi, slow.url, ["photo_request.created"])
            await fapi.create()
            (delivery,) = await fast.wait_for_deliveries(1)
        assert [(200, None)] == [(a.status_code, a.error) for a in delivery.attempts]

    async def test_deleting_the_endpoint_stops_retries(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """No retries go to an endpoint that no longer exists."""
        async with Receiver(default=500) as broken:
            endpoint = await subscribe(fapi, broken.url, ["photo_request.created"])
            await fapi.create()
            await fapi.call("DELETE", f"/webhooks/{endpoint['id']}")
            (delivery,) = await fast.wait_for_deliveries(1)

        assert len(delivery.attempts) <= 1
        assert not delivery.delivered


class TestSignedTimestamp:
    async def test_deliveries_verify_after_the_clock_is_moved_a_day(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """The signed timestamp is the real time of the event (the emulator's choice), so a
        receiver with the default one-hour window accepts it after advance_time(86400)."""
        endpoint = await subscribe(fapi, receiver.url, ["photo_request.created"])
        fast.advance_time(86_400)
        await fapi.create()
        await fast.wait_for_deliveries(1)
        headers, body = receiver.received[0]
        event = construct_event(body, headers, endpoint["secret"])
        assert event.type == "photo_request.created"


class TestTestEndpoint:
    async def test_sends_a_signed_test_delivery(
        self, fapi: Api, fast: VisionoEmulator, receiver: Receiver
    ) -> None:
        """``POST /webhooks/{id}/test`` reports the receiver's answer."""
        endpoint = await subscribe(fapi, receiver.url, ["photo_request.submitted"])

        reply = await fapi.post(f"/webhooks/{endpoint['id']}/test")

        assert reply.data["delivered"] is True
        assert reply.data["status_code"] == 200
        headers, body = receiver.received[0]
        assert headers["X-Visiono-Delivery"] == reply.data["delivery_id"]
        assert headers["X-Visiono-Event"] == "webhook.test"
        expected = hmac.new(endpoint["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Visiono-Signature"] == f"sha256={expected}"

    async def test_reports_failures_without_retrying(
        self, fapi: Api, fast: VisionoEmulator
    ) -> None:
        """A failing receiver gives ``delivered: false`` and its status, once."""
        async with Receiver(default=500) as broken:
            endpoint = await subscribe(fapi, broken.url, ["photo_request.submitted"])
            reply = await fapi.post(f"/webhooks/{endpoint['id']}/test")

        assert reply.data["delivered"] is False
        assert reply.data["status_code"] == 500
        assert len(broken.received) == 1

    async def test_unreachable_has_no_status(self, fapi: Api) -> None:
        """Nothing listening: ``status_code`` is null."""
        async with Receiver() as gone:
            url = gone.url
        endpoint = await subscribe(fapi, url, ["photo_request.submitted"])

        reply = await fapi.post(f"/webhooks/{endpoint['id']}/test")

        assert reply.data == {
            "delivered": False,
            "status_code": None,
            "delivery_id": reply.data["delivery_id"],
        }


class TestLifecycle:
    async def test_closing_cancels_pending_retries(self, http: aiohttp.ClientSession) -> None:
        """aclose() does not wait for a retry scheduled a minute away."""
        async with Receiver(default=500) as broken:
            emu = VisionoEmulator()
            await emu.start()
            try:
                api = Api(http, emu, emu.create_api_key())
                await subscribe(api, broken.url, ["photo_request.created"])
                await api.create()
                await broken.arrived.wait()
            finally:
                with anyio.fail_after(10):
                    await emu.aclose()

        (delivery,) = emu.deliveries
        assert len(delivery.attempts) == 1
        assert delivery.done

    async def test_start_and_close_may_run_in_different_tasks(self) -> None:
        """Like pytest-asyncio fixtures do: start in one task, close in another."""
        emu = VisionoEmulator()
        async with anyio.create_task_group() as tg:
            tg.start_soon(emu.start)

        emu.create_api_key()
        await emu.aclose()
        await emu.aclose()

    async def test_waiting_too_long_raises(self, fast: VisionoEmulator) -> None:
        """wait_for_deliveries raises TimeoutError naming what is missing."""
        with pytest.raises(TimeoutError, match="0 of 0"):
            await fast.wait_for_deliveries(1, timeout=0.05)
