"""Signed deliveries built the way Visiono builds them: for testing your own receivers."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from ._construct import DELIVERY_HEADER, EVENT_HEADER, TENANT_HEADER
from ._signature import SIGNATURE_HEADER, compute_signature

__all__ = ["Delivery", "build_delivery"]


@attrs.frozen
class Delivery:
    """A webhook request as Visiono sends it.

    Attributes:
        body: The raw JSON body.
        headers: ``Content-Type`` and the four ``X-Visiono-*`` headers.
    """

    body: bytes
    headers: dict[str, str] = attrs.field(repr=False)

    @property
    def delivery_id(self) -> str:
        """The ``X-Visiono-Delivery`` header."""
        return self.headers[DELIVERY_HEADER]


def build_delivery(
    event: str,
    data: Mapping[str, Any],
    secret: str | bytes,
    *,
    timestamp: datetime | None = None,
    delivery_id: str | None = None,
    tenant_id: str = "tenant_test",
) -> Delivery:
    """Build and sign a delivery of ``event`` carrying ``data``.

    Args:
        event: The event name (``"photo_request.submitted"``).
        data: The body's ``data`` object (``{"photo_request": {...}}``).
        secret: The endpoint secret to sign with.
        timestamp: The body's ``timestamp``; now when ``None``.
        delivery_id: The ``X-Visiono-Delivery`` header; a fresh ``dlv_...`` when ``None``.
        tenant_id: The ``X-Visiono-Tenant-Id`` header.

    Returns:
        The body and headers, ready to POST.
    """
    when = timestamp if timestamp is not None else datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    body = json.dumps(
        {
            "event": event,
            "timestamp": when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id or f"dlv_{secrets.token_hex(12)}",
        SIGNATURE_HEADER: compute_signature(body, secret),
        TENANT_HEADER: tenant_id,
    }
    return Delivery(body, headers)
