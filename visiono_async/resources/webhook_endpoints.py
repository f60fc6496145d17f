"""``client.webhooks``: webhook endpoints and the events they can receive (``/webhooks``)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._converter import invalid_response, structure_response
from .._pagination import AsyncPaginator, Page
from .._response import raw_response_wrapper
from ..models import WebhookEndpoint, WebhookEventInfo, WebhookTestResult
from ._common import Collection, request_model, string_list

if TYPE_CHECKING:
    from .._session import APIResponse, Session

__all__ = ["WebhookEndpoints", "WebhookEndpointsWithRawResponse"]

_CLOCK_SKEW = timedelta(minutes=10)  # how far the API's clock may be behind ours
_WEBHOOKS = Collection("/webhooks", WebhookEndpoint, id_name="webhook_id")


class WebhookEndpoints:
    """Webhook endpoints: URLs Visiono POSTs events to, signed with each endpoint's secret.

    Reached as ``client.webhooks``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def with_raw_response(self) -> WebhookEndpointsWithRawResponse:
        """The same methods, answering with a :class:`~visiono_async.RawResponse`.

        ``raw = await client.webhooks.with_raw_response.get(...)``; ``raw.request_id``,
        ``raw.headers`` and ``raw.status_code`` describe the answer, ``raw.parse()`` is
        what the method returns."""
        return WebhookEndpointsWithRawResponse(self)

    def list(
        self,
        *,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> AsyncPaginator[WebhookEndpoint]:
        """Every webhook endpoint, fetched lazily page by page (secrets are not included).

        Args:
            per_page: The page size to ask for.
            timeout: Seconds for each page's call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            An async iterable of ``WebhookEndpoint``; nothing is sent until it is iterated.
        """
        return _WEBHOOKS.list(
            self._session.for_call(max_retries), {"per_page": per_page}, timeout=timeout
        )

    async def list_page(
        self,
        *,
        page: int = 1,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[WebhookEndpoint]:
        """One page of webhook endpoints.

        Args:
            page: The page number, from 1.
            per_page: The page size to ask for.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The page, with its items and pagination details.

        Raises:
            APIError: The API refused the call.
            APIConnectionError: The call could not be completed.
        """
        params = {"per_page": per_page}
        return await _WEBHOOKS.list_page(
            self._session.for_call(max_retries), page, params, timeout=timeout
        )

    async def create(
        self,
        *,
        url: str,
        events: Iterable[str],
        description: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **extra: Any,
    ) -> WebhookEndpoint:
        """Create a webhook endpoint. Store the returned ``secret``: it is shown only once.

        Args:
            url: Where Visiono POSTs events (use HTTPS).
            events: The event names to receive (``"photo_request.submitted"``, ...); see
                :meth:`events`.
            description: Your description.
            idempotency_key: Sent as ``Idempotency-Key`` (default: a new random one).
                Visiono does not document the header, so after an ambiguous failure (a 5xx,
                a timeout or a reset once the request was sent) the SDK also looks for an
                endpoint made by the failed call (same URL, events and description, created
                since): its secret is not shown again, so it is deleted and the endpoint
                created once more. Either way exactly one endpoint is left, with the secret
                returned here.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **extra: Further body fields, sent as given (for API options newer than the SDK).

        Returns:
            The endpoint, with its signing ``secret``.

        Raises:
            ValidationError: The API rejected a field (``.errors`` maps fields to messages).
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        fields = {
            "url": url,
            "events": string_list(events, name="events"),
            "description": description,
        }
        wanted = sorted(fields["events"] or [])
        sent_at = datetime.now(timezone.utc)

        def made_by_this_call(endpoint: WebhookEndpoint) -> bool:
            return (
                endpoint.url == url
                and sorted(endpoint.events) == wanted
                and endpoint.description == description
                and (endpoint.created_at is None or endpoint.created_at >= sent_at - _CLOCK_SKEW)
            )

        async def recover() -> APIResponse | None:
            orphan = await _WEBHOOKS.find(
                self._session.for_call(max_retries), made_by_this_call, timeout=timeout
            )
            if orphan is None:
                return None  # nothing was made: the create is sent again as it was
            await _WEBHOOKS.delete(self._session.for_call(max_retries), orphan.id, timeout=timeout)
            body = {**{k: v for k, v in fields.items() if v is not None}, **extra}
            return await self._session.for_call(max_retries).request(
                "POST",
                _WEBHOOKS.path,
                json=body,
                timeout=timeout,
                idempotency_key=f"vsdk_{uuid.uuid4().hex}",  # not the key of the orphan
                recover=recover,
            )

        return await _WEBHOOKS.create(
            self._session.for_call(max_retries),
            fields,
            extra,
            idempotency_key=idempotency_key or f"vsdk_{uuid.uuid4().hex}",
            timeout=timeout,
            recover=recover,
        )

    async def get(
        self, webhook_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> WebhookEndpoint:
        """Fetch one webhook endpoint (without its secret).

        Args:
            webhook_id: The id (``wh_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The endpoint.

        Raises:
            ValueError: ``webhook_id`` cannot be an id (nothing is sent).
            NotFoundError: No such endpoint.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _WEBHOOKS.get(self._session.for_call(max_retries), webhook_id, timeout=timeout)

    async def update(
        self,
        webhook_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> WebhookEndpoint:
        """Change some fields of a webhook endpoint (``PATCH``); exactly ``fields`` are sent.

        Args:
            webhook_id: The id (``wh_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **fields: The fields to set (``url=...``, ``events=[...]``, ``is_active=False``,
                ``description=...``); None is sent as JSON null.

        Returns:
            The updated endpoint.

        Raises:
            ValueError: ``webhook_id`` cannot be an id, or no field was given (nothing is
                sent).
            ValidationError: The API rejected a field.
            NotFoundError: No such endpoint.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        if "events" in fields and fields["events"] is not None:
            fields["events"] = string_list(fields["events"], name="events")
        return await _WEBHOOKS.update(
            self._session.for_call(max_retries), webhook_id, fields, method="PATCH", timeout=timeout
        )

    async def delete(
        self, webhook_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> None:
        """Delete a webhook endpoint; no more events are delivered to it.

        Args:
            webhook_id: The id (``wh_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Raises:
            ValueError: ``webhook_id`` cannot be an id (nothing is sent).
            NotFoundError: No such endpoint.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        await _WEBHOOKS.delete(self._session.for_call(max_retries), webhook_id, timeout=timeout)

    async def test(
        self, webhook_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> WebhookTestResult:
        """Send a test event to a webhook endpoint now.

        Args:
            webhook_id: The id (``wh_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            Whether it was delivered, the endpoint's status code and the delivery id.

        Raises:
            ValueError: ``webhook_id`` cannot be an id (nothing is sent).
            NotFoundError: No such endpoint.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        path = _WEBHOOKS.item_path(webhook_id, "/test")
        return await request_model(
            self._session.for_call(max_retries), "POST", path, WebhookTestResult, timeout=timeout
        )

    async def events(
        self, *, timeout: float | None = None, max_retries: int | None = None
    ) -> builtins.list[WebhookEventInfo]:
        """The events an endpoint can subscribe to, with their descriptions when given.

        Visiono does not document this answer's shape; each of these is understood: a list
        of names, a list of objects with ``name`` (or ``event``) and ``description``, either
        inside ``{"events": [...]}`` (or ``data``), and a map of name to description.

        Args:
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The events, in the order the API lists them.

        Raises:
            APIError: The API refused the call, or answered in a shape none of the above
                (``code="invalid_response"``, naming what it got).
            APIConnectionError: The call could not be completed.
        """
        path = f"{_WEBHOOKS.path}/events"
        response = await self._session.for_call(max_retries).request("GET", path, timeout=timeout)
        entries = _event_entries(response.data)
        if entries is None:
            raise invalid_response(
                response,
                f"an event list of a shape the SDK does not know ({_shape(response.data)})",
                method="GET",
                path=path,
            )
        return [
            structure_response(response, WebhookEventInfo, method="GET", path=path, data=entry)
            for entry in entries
        ]


def _event_entries(value: Any) -> builtins.list[dict[str, Any]] | None:
    """The events of a ``GET /webhooks/events`` answer as objects with a ``name``; None for
    a shape it does not know."""
    if isinstance(value, Mapping):
        if "events" in value:
            return _event_entries(value["events"])
        if value and all(isinstance(v, (str, type(None))) for v in value.values()):
            return [{"name": name, "description": text} for name, text in value.items()]
        return None
    if not isinstance(value, builtins.list):
        return None
    entries: builtins.list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            entries.append({"name": item})
        elif isinstance(item, Mapping) and isinstance(item.get("name", item.get("event")), str):
            entry = dict(item)
            if "name" not in entry:
                entry["name"] = entry.pop("event")
            entries.append(entry)
        else:
            return None
    return entries


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object with " + (", ".join(sorted(map(str, value))[:5]) or "no keys")
    if isinstance(value, builtins.list):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a list of {', '.join(kinds) or 'nothing'}"
    return type(value).__name__


class WebhookEndpointsWithRawResponse:
    """``client.webhooks.with_raw_response``: each method answers with a
    :class:`~visiono_async.RawResponse` around what ``client.webhooks``'s returns."""

    def __init__(self, resource: WebhookEndpoints) -> None:
        self.list_page = raw_response_wrapper(resource.list_page)
        self.create = raw_response_wrapper(resource.create)
        self.get = raw_response_wrapper(resource.get)
        self.update = raw_response_wrapper(resource.update)
        self.delete = raw_response_wrapper(resource.delete)
        self.test = raw_response_wrapper(resource.test)
        self.events = raw_response_wrapper(resource.events)
