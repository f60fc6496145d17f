"""``client.stats()`` and ``client.status()`` against the emulator."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from visiono_async import VisionoClient
from visiono_async.models import Stats, Status
from visiono_async.resources import Account


class TestStats:
    """``stats`` reports plan, usage and rate limits."""

    async def test_plan_usage_and_rate_limits(self, client: VisionoClient, emulator: Any) -> None:
        """The pro plan, the requests and photos so far, and the emulator's limits."""
        pr = await client.photo_requests.create(instructions="x")
        await emulator.simulate_submission(pr.id)
        stats = await client.stats()
        assert stats.plan is not None and stats.usage is not None
        assert stats.rate_limit is not None
        assert ("pro", True, 1_000, 1, 1, False, 10_000, 100_000) == (
            stats.plan.name,
            stats.plan.email_enabled,
            stats.plan.photo_limit,
            stats.usage.photos_used,
            stats.usage.photo_requests_created,
            stats.usage.is_lifetime_quota,
            stats.rate_limit.per_minute,
            stats.rate_limit.per_hour,
        )

    async def test_billing_period_is_aware(self, client: VisionoClient) -> None:
        """A monthly plan's billing period is a pair of aware datetimes around now."""
        stats = await client.stats()
        assert stats.usage is not None
        start, end = stats.usage.billing_period_start, stats.usage.billing_period_end
        assert start is not None and end is not None
        assert start <= datetime.now(timezone.utc) < end

    async def test_free_plan_has_a_lifetime_quota(self, emulator: Any) -> None:
        """A free key reports a lifetime quota and no billing period."""
        key = emulator.create_api_key(plan="free")
        async with VisionoClient(api_key=key, base_url=emulator.base_url) as client:
            stats = await client.stats()
        assert stats.plan is not None and stats.usage is not None
        assert ("free", False, True, None) == (
            stats.plan.name,
            stats.plan.email_enabled,
            stats.usage.is_lifetime_quota,
            stats.usage.billing_period_start,
        )

    async def test_unknown_fields_are_kept(self, client: VisionoClient, emulator: Any) -> None:
        """Fields the SDK does not model stay available in ``extra``, at every level."""
        body = {"data": {"plan": {"name": "pro", "seats": 5}, "trial": True}}
        emulator.faults.fail_next(1, status=200, body=body, path="/stats")
        stats = await client.stats()
        assert stats.plan is not None
        assert ({"trial": True}, {"seats": 5}, None) == (
            stats.extra,
            stats.plan.extra,
            stats.usage,
        )

    async def test_returns_a_stats_model(self, client: VisionoClient) -> None:
        """The answer is a ``Stats``."""
        assert isinstance(await client.stats(), Stats)


class TestStatus:
    """``status`` reports the API's health."""

    async def test_operational(self, client: VisionoClient, emulator: Any) -> None:
        """``operational``, version ``v1`` and the server's clock as an aware datetime."""
        status = await client.status()
        assert status.time is not None
        assert ("operational", "v1", timezone.utc) == (
            status.status,
            status.version,
            status.time.tzinfo,
        )
        assert abs(status.time.timestamp() - emulator.now()) < 5

    async def test_via_the_account_resource(self, client: VisionoClient) -> None:
        """The ``Account`` resource behind ``client.status()`` works on the session alone."""
        assert isinstance(await Account(client.session).status(), Status)
