"""``/webhooks``: endpoints (the secret is shown once), test deliveries, the event list."""

from __future__ import annotations

import secrets

from aiohttp import web

from ._errors import not_found
from ._http import deleted, ok, paginated, read_object
from ._models import EVENTS, WebhookEndpoint
from ._routing import Route, backend
from ._validation import FieldErrors, parse_webhook

__all__ = ["ROUTES"]


def _endpoint(request: web.Request) -> WebhookEndpoint:
    ident = request.match_info["id"]
    endpoint = backend(request).store.webhooks.get(ident)
    if endpoint is None:
        raise not_found("webhook endpoint", ident)
    return endpoint


async def list_events(request: web.Request) -> web.StreamResponse:
    """The events an endpoint can subscribe to."""
    return ok([{"name": name, "description": text} for name, text in EVENTS.items()])


async def list_webhooks(request: web.Request) -> web.StreamResponse:
    """Newest first, without secrets."""
    b = backend(request)
    return paginated(request, b.store.list_webhooks(), b.serializer.webhook)


async def create_webhook(request: web.Request) -> web.StreamResponse:
    """201 with the endpoint and its ``secret`` (the only time it is shown)."""
    body = await read_object(request)
    b = backend(request)
    errors = FieldErrors()
    fields = parse_webhook(body, errors, partial=False, allow_http=b.allow_http_webhooks)
    errors.raise_if_any()
    endpoint = b.store.create_webhook(fields, secret="whsec_" + secrets.token_hex(16))
    return ok(b.serializer.webhook(endpoint, with_secret=True), status=201)


async def get_webhook(request: web.Request) -> web.StreamResponse:
    """One endpoint, without its secret."""
    return ok(backend(request).serializer.webhook(_endpoint(request)))


async def update_webhook(request: web.Request) -> web.StreamResponse:
    """Update ``url``, ``events``, ``is_active`` or ``description``."""
    endpoint = _endpoint(request)
    body = await read_object(request)
    b = backend(request)
    errors = FieldErrors()
    fields = parse_webhook(body, errors, partial=True, allow_http=b.allow_http_webhooks)
    errors.raise_if_any()
    b.store.update_webhook(endpoint, fields)
    return ok(b.serializer.webhook(endpoint))


async def delete_webhook(request: web.Request) -> web.StreamResponse:
    """Delete: ``{"id", "deleted": true}``; pending retries to it stop."""
    endpoint = _endpoint(request)
    b = backend(request)
    del b.store.webhooks[endpoint.id]
    return deleted({"id": endpoint.id, "deleted": True}, b.delete_answer)


async def test_webhook(request: web.Request) -> web.StreamResponse:
    """Send one ``webhook.test`` delivery now and report how it went."""
    endpoint = _endpoint(request)
    delivery = await backend(request).webhooks.send_test(endpoint)
    status_code = delivery.attempts[-1].status_code if delivery.attempts else None
    return ok(
        {"delivered": delivery.delivered, "status_code": status_code, "delivery_id": delivery.id}
    )


ROUTES = [
    Route("GET", "/webhooks/events", list_events, "webhooks:read"),
    Route("GET", "/webhooks", list_webhooks, "webhooks:read"),
    Route("POST", "/webhooks", create_webhook, "webhooks:write"),
    Route("GET", "/webhooks/{id}", get_webhook, "webhooks:read"),
    Route("PATCH", "/webhooks/{id}", update_webhook, "webhooks:write"),
    Route("DELETE", "/webhooks/{id}", delete_webhook, "webhooks:write"),
    Route("POST", "/webhooks/{id}/test", test_webhook, "webhooks:write"),
]
