"""``/stats`` (plan and usage of the calling key) and ``/status`` (health, no key needed)."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from ._clock import isoformat
from ._context import current
from ._http import ok
from ._routing import Route, backend

__all__ = ["ROUTES"]


def _month(now: float) -> tuple[float, float]:
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.timestamp(), following.timestamp()


async def stats(request: web.Request) -> web.StreamResponse:
    """Plan, usage in the current billing period (free: lifetime) and rate limits."""
    b = backend(request)
    key = current().key
    assert key is not None
    plan = key.plan
    if plan.is_lifetime_quota:
        period: tuple[float, float] | None = None
        photos, created = b.store.usage(since=None)
    else:
        period = _month(b.clock.now())
        photos, created = b.store.usage(since=period[0])
    data = {
        "plan": {
            "name": plan.name,
            "email_enabled": plan.email_enabled,
            "photo_limit": plan.photo_limit,
            "webhooks_enabled": True,
            "scopes": sorted(key.scopes),
        },
        "usage": {
            "photos_used": photos,
            "photos_remaining": max(0, plan.photo_limit - photos),
            "photo_requests_created": created,
            "is_lifetime_quota": plan.is_lifetime_quota,
            "billing_period_start": isoformat(period[0]) if period else None,
            "billing_period_end": isoformat(period[1]) if period else None,
        },
        "rate_limit": {
            "per_minute": b.rate_limiter.per_minute,
            "per_hour": b.rate_limiter.per_hour,
        },
    }
    return ok(data)


async def status(request: web.Request) -> web.StreamResponse:
    """``operational``, the API version and the emulator's time."""
    now = backend(request).clock.now()
    return ok({"status": "operational", "version": "v1", "time": isoformat(now)})


ROUTES = [
    Route("GET", "/stats", stats),
    Route("GET", "/status", status),
]
