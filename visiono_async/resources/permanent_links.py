"""``client.permanent_links``: the older endpoints of reusable upload links (``/permanent-links``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._pagination import AsyncPaginator, Page
from .._response import raw_response_wrapper
from ..models import PermanentLink
from ._common import Collection, string_list

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["PermanentLinks", "PermanentLinksWithRawResponse"]

_PERMANENT_LINKS = Collection("/permanent-links", PermanentLink, id_name="permanent_link_id")


class PermanentLinks:
    """Permanent links: the older API name of smart links, with their own endpoints.

    Reached as ``client.permanent_links``. New code should prefer ``client.smart_links``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def with_raw_response(self) -> PermanentLinksWithRawResponse:
        """The same methods, answering with a :class:`~visiono_async.RawResponse`.

        ``raw = await client.permanent_links.with_raw_response.get(...)``; ``raw.request_id``,
        ``raw.headers`` and ``raw.status_code`` describe the answer, ``raw.parse()`` is
        what the method returns."""
        return PermanentLinksWithRawResponse(self)

    def list(
        self,
        *,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> AsyncPaginator[PermanentLink]:
        """Every permanent link, fetched lazily page by page.

        Args:
            per_page: The page size to ask for.
            timeout: Seconds for each page's call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            An async iterable of ``PermanentLink``; nothing is sent until it is iterated.
        """
        return _PERMANENT_LINKS.list(
            self._session.for_call(max_retries), {"per_page": per_page}, timeout=timeout
        )

    async def list_page(
        self,
        *,
        page: int = 1,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[PermanentLink]:
        """One page of permanent links.

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
        return await _PERMANENT_LINKS.list_page(
            self._session.for_call(max_retries), page, params, timeout=timeout
        )

    async def create(
        self,
        *,
        name: str,
        instructions: str | None = None,
        items: Iterable[Mapping[str, Any]] | None = None,
        slug: str | None = None,
        require_gps: bool | None = None,
        tags: Iterable[str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **extra: Any,
    ) -> PermanentLink:
        """Create a permanent link. Only the options given are sent.

        Args:
            name: Your name for the link.
            instructions: What submitters are asked for (the API uses ``name`` when absent).
            items: The photos to ask for, ``{"instructions": ..., "is_required": ...}`` each.
            slug: Your own path segment for the URL (3 to 64 of ``a-z``, ``0-9``, ``-``).
            require_gps: Whether photos must carry GPS data.
            tags: Your labels.
            idempotency_key: Makes the call safe to retry: the API creates at most one
                link per key.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **extra: Further body fields, sent as given (for API options newer than the SDK).

        Returns:
            The created permanent link.

        Raises:
            ValidationError: The API rejected a field (``.errors`` maps fields to messages).
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        fields = {
            "name": name,
            "instructions": instructions,
            "items": [dict(item) for item in items] if items is not None else None,
            "slug": slug,
            "require_gps": require_gps,
            "tags": string_list(tags, name="tags"),
        }
        return await _PERMANENT_LINKS.create(
            self._session.for_call(max_retries),
            fields,
            extra,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    async def get(
        self,
        permanent_link_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> PermanentLink:
        """Fetch one permanent link.

        Args:
            permanent_link_id: The id.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The permanent link.

        Raises:
            ValueError: ``permanent_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such permanent link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PERMANENT_LINKS.get(
            self._session.for_call(max_retries), permanent_link_id, timeout=timeout
        )

    async def update(
        self,
        permanent_link_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> PermanentLink:
        """Change some fields of a permanent link (``PATCH``); exactly ``fields`` are sent.

        Args:
            permanent_link_id: The id.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **fields: The fields to set (``instructions=...``, ``is_active=False``, ...);
                None is sent as JSON null.

        Returns:
            The updated permanent link.

        Raises:
            ValueError: ``permanent_link_id`` cannot be an id, or no field was given
                (nothing is sent).
            ValidationError: The API rejected a field.
            NotFoundError: No such permanent link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _PERMANENT_LINKS.update(
            self._session.for_call(max_retries),
            permanent_link_id,
            fields,
            method="PATCH",
            timeout=timeout,
        )

    async def delete(
        self,
        permanent_link_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Delete a permanent link.

        Args:
            permanent_link_id: The id.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Raises:
            ValueError: ``permanent_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such permanent link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        await _PERMANENT_LINKS.delete(
            self._session.for_call(max_retries), permanent_link_id, timeout=timeout
        )


class PermanentLinksWithRawResponse:
    """``client.permanent_links.with_raw_response``: each method answers with a
    :class:`~visiono_async.RawResponse` around what ``client.permanent_links``'s returns."""

    def __init__(self, resource: PermanentLinks) -> None:
        self.list_page = raw_response_wrapper(resource.list_page)
        self.create = raw_response_wrapper(resource.create)
        self.get = raw_response_wrapper(resource.get)
        self.update = raw_response_wrapper(resource.update)
        self.delete = raw_response_wrapper(resource.delete)
