"""Webhook endpoints: where Visiono delivers events, and the events it can deliver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import Model

__all__ = ["WebhookEndpoint", "WebhookEventInfo", "WebhookTestResult"]


def _redacted_extra(extra: dict[str, Any]) -> str:
    """Unknown keys, with any value whose key mentions a secret hidden."""
    shown = {k: ("***" if "secret" in k.lower() else v) for k, v in extra.items()}
    return repr(shown)


@attrs.frozen
class WebhookEndpoint(Model):
    """A webhook endpoint (``wh_...``).

    ``secret`` is sent by the API only in the answer to ``create``: store it then. It never
    appears in the ``repr``.

    Attributes:
        id: The endpoint id (``wh_...``).
        url: Where events are POSTed.
        events: The event names delivered (``"photo_request.submitted"``, ...).
        description: Your description.
        is_active: Whether events are delivered.
        secret: The signing secret, on the object returned by ``create`` only.
        created_at: When it was created.
        updated_at: When it last changed.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    id: str
    url: str | None = None
    events: list[str] = attrs.field(factory=list)
    description: str | None = None
    is_active: bool | None = None
    secret: str | None = attrs.field(default=None, repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=_redacted_extra)


@attrs.frozen
class WebhookEventInfo(Model):
    """An event a webhook endpoint can subscribe to.

    Attributes:
        name: The event name (``"photo_submission.created"``).
        description: What triggers it.
        extra: JSON keys this version of the SDK does not know, as received.
    """

    name: str
    description: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class WebhookTestResult(Model):
    """The outcome of ``webhooks.test``: one test event sent to the endpoint.

    Attributes:
        delivered: Whether the endpoint answered with a 2xx status.
        status_code: The endpoint's HTTP status, if it answered.
        delivery_id: The delivery id (the ``X-Visiono-Delivery`` header it was sent with).
        extra: JSON keys this version of the SDK does not know, as received.
    """

    delivered: bool | None = None
    status_code: int | None = None
    delivery_id: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
