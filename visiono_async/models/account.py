"""The account: plan, usage and rate limits (``/stats``) and service health (``/status``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import Model

__all__ = ["Stats", "StatsPlan", "StatsRateLimit", "StatsUsage", "Status"]


@attrs.frozen
class StatsPlan(Model):
    """The account's plan.

    Attributes:
        name: The plan name (``"pro"``).
        email_enabled: Whether photo requests may be e-mailed to recipients.
        photo_limit: Photos allowed per billing period (or for life, on lifetime quotas).
        webhooks_enabled: Whether webhooks are available.
        scopes: The scopes of the API key that asked.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    name: str | None = None
    email_enabled: bool | None = None
    photo_limit: int | None = None
    webhooks_enabled: bool | None = None
    scopes: list[str] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class StatsUsage(Model):
    """What the account has used.

    Attributes:
        photos_used: Photos received in the current period.
        photos_remaining: Photos left in the current period.
        photo_requests_created: Photo requests created in the current period.
        is_lifetime_quota: Whether ``photo_limit`` counts for the account's lifetime.
        billing_period_start: When the current billing period started.
        billing_period_end: When it ends.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    photos_used: int | None = None
    photos_remaining: int | None = None
    photo_requests_created: int | None = None
    is_lifetime_quota: bool | None = None
    billing_period_start: datetime | None = None
    billing_period_end: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class StatsRateLimit(Model):
    """The account's API rate limits.

    Attributes:
        per_minute: Requests allowed per minute.
        per_hour: Requests allowed per hour.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    per_minute: int | None = None
    per_hour: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Stats(Model):
    """Plan, usage and rate limits of the account the API key belongs to.

    Attributes:
        plan: The plan.
        usage: The usage so far.
        rate_limit: The API rate limits.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    plan: StatsPlan | None = None
    usage: StatsUsage | None = None
    rate_limit: StatsRateLimit | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Status(Model):
    """The health of the Visiono API.

    Attributes:
        status: The service state (``"operational"``).
        version: The API version.
        time: The server's clock.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    status: str | None = None
    version: str | None = None
    time: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
