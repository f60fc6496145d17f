"""``client.smart_links``: permanent, reusable upload links (``/smart-links``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._pagination import AsyncPaginator, Page
from .._response import raw_response_wrapper
from ..models import DownloadURLs, SmartLink, Submission
from ._common import UploadCollection, request_model_or_none, string_list

if TYPE_CHECKING:
    from .._session import APIResponse, Session

__all__ = ["SmartLinks", "SmartLinksWithRawResponse"]

_SMART_LINKS = UploadCollection("/smart-links", SmartLink, id_name="smart_link_id")


class SmartLinks:
    """Smart links: one permanent upload page that many submitters use.

    Reached as ``client.smart_links``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def with_raw_response(self) -> SmartLinksWithRawResponse:
        """The same methods, answering with a :class:`~visiono_async.RawResponse`.

        ``raw = await client.smart_links.with_raw_response.get(...)``; ``raw.request_id``,
        ``raw.headers`` and ``raw.status_code`` describe the answer, ``raw.parse()`` is
        what the method returns."""
        return SmartLinksWithRawResponse(self)

    def list(
        self,
        *,
        is_active: bool | None = None,
        tags: Iterable[str] | None = None,
        per_page: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> AsyncPaginator[SmartLink]:
        """Every smart link matching the filters, fetched lazily page by page.

        Args:
            is_active: Only active (True) or only archived (False) links.
            tags: Only links with these tags.
            per_page: The page size to ask for.
            timeout: Seconds for each page's call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            An async iterable of ``SmartLink``; nothing is sent until it is iterated.
        """
        params = _list_params(is_active, tags, per_page)
        return _SMART_LINKS.list(self._session.for_call(max_retries), params, timeout=timeout)

    async def list_page(
        self,
        *,
        page: int = 1,
        per_page: int | None = None,
        is_active: bool | None = None,
        tags: Iterable[str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Page[SmartLink]:
        """One page of smart links.

        Args:
            page: The page number, from 1.
            per_page: The page size to ask for.
            is_active: Only active (True) or only archived (False) links.
            tags: Only links with these tags.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The page, with its items and pagination details.

        Raises:
            APIError: The API refused the call.
            APIConnectionError: The call could not be completed.
        """
        params = _list_params(is_active, tags, per_page)
        return await _SMART_LINKS.list_page(
            self._session.for_call(max_retries), page, params, timeout=timeout
        )

    async def create(
        self,
        *,
        instructions: str,
        items: Iterable[Mapping[str, Any]] | None = None,
        custom_slug: str | None = None,
        name: str | None = None,
        unique_field_label: str | None = None,
        show_full_name_field: bool | None = None,
        full_name_required: bool | None = None,
        require_gps: bool | None = None,
        tags: Iterable[str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **extra: Any,
    ) -> SmartLink:
        """Create a smart link. Only the options given are sent.

        Args:
            instructions: What submitters are asked for.
            items: The photos to ask for, ``{"instructions": ..., "is_required": ...}`` each.
            custom_slug: Your own slug for the URL (``"fleet-inspection"``).
            name: Your name for the link.
            unique_field_label: The label of a field each submitter fills in
                (``"License Plate"``).
            show_full_name_field: Whether submitters are asked for their name.
            full_name_required: Whether that name is required.
            require_gps: Whether photos must carry GPS data.
            tags: Your labels, usable as a ``list`` filter.
            idempotency_key: Makes the call safe to retry: the API creates at most one
                link per key.
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **extra: Further body fields, sent as given (for API options newer than the SDK).

        Returns:
            The created smart link.

        Raises:
            ValidationError: The API rejected a field (``.errors`` maps fields to messages).
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        fields = {
            "instructions": instructions,
            "items": [dict(item) for item in items] if items is not None else None,
            "custom_slug": custom_slug,
            "name": name,
            "unique_field_label": unique_field_label,
            "show_full_name_field": show_full_name_field,
            "full_name_required": full_name_required,
            "require_gps": require_gps,
            "tags": string_list(tags, name="tags"),
        }

        async def recover() -> APIResponse | None:
            # A custom slug is unique: a link with it, after a failed create, is this one.
            found = await _SMART_LINKS.find(
                self._session.for_call(max_retries),
                lambda sl: sl.custom_slug == custom_slug,
                timeout=timeout,
            )
            if found is None:
                return None
            return await self._session.for_call(max_retries).request(
                "GET", _SMART_LINKS.item_path(found.id), timeout=timeout
            )

        return await _SMART_LINKS.create(
            self._session.for_call(max_retries),
            fields,
            extra,
            idempotency_key=idempotency_key,
            timeout=timeout,
            recover=recover if custom_slug is not None else None,
        )

    async def get(
        self, smart_link_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> SmartLink:
        """Fetch one smart link.

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The smart link.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _SMART_LINKS.get(
            self._session.for_call(max_retries), smart_link_id, timeout=timeout
        )

    async def update(
        self,
        smart_link_id: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **fields: Any,
    ) -> SmartLink:
        """Change a smart link (``PUT /smart-links/{id}``); exactly ``fields`` are sent.

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.
            **fields: The fields to set, as in :meth:`create` (``instructions=...``,
                ``is_active=False``, ``tags=[...]``); None is sent as JSON null.

        Returns:
            The updated smart link.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id, or no field was given (nothing
                is sent).
            ValidationError: The API rejected a field.
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _SMART_LINKS.update(
            self._session.for_call(max_retries),
            smart_link_id,
            fields,
            method="PUT",
            timeout=timeout,
        )

    async def archive(
        self, smart_link_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> SmartLink | None:
        """Archive a smart link (``DELETE /smart-links/{id}``): it stops taking uploads.

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The smart link as the API answers it (``is_active`` False), or ``None`` when
            the API confirms without it (204, or an empty body: Visiono does not document
            which); the link is archived either way.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        path = _SMART_LINKS.item_path(smart_link_id)
        return await request_model_or_none(
            self._session.for_call(max_retries), "DELETE", path, SmartLink, timeout=timeout
        )

    async def submissions(
        self, smart_link_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> builtins.list[Submission]:
        """Every photo uploaded through a smart link (all pages, if the API pages them).

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for each call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The submissions, with ``unique_value`` and ``full_name`` when asked for.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _SMART_LINKS.submissions(
            self._session.for_call(max_retries), smart_link_id, timeout=timeout
        )

    async def download_urls(
        self, smart_link_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> DownloadURLs:
        """Signed download URLs for every photo uploaded through a smart link.

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The URLs (``smart_link_id`` set), with their expiry.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _SMART_LINKS.download_urls(
            self._session.for_call(max_retries), smart_link_id, timeout=timeout
        )

    async def qrcode(
        self, smart_link_id: str, *, timeout: float | None = None, max_retries: int | None = None
    ) -> str:
        """The URL of a QR code image that opens the smart link.

        Args:
            smart_link_id: The id (``sl_...``).
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The image URL.

        Raises:
            ValueError: ``smart_link_id`` cannot be an id (nothing is sent).
            NotFoundError: No such smart link.
            APIError: The API refused the call for another reason.
            APIConnectionError: The call could not be completed.
        """
        return await _SMART_LINKS.qrcode(
            self._session.for_call(max_retries), smart_link_id, timeout=timeout
        )


def _list_params(
    is_active: bool | None, tags: Iterable[str] | None, per_page: int | None
) -> dict[str, Any]:
    return {
        "is_active": is_active,
        "tags": string_list(tags, name="tags"),
        "per_page": per_page,
    }


class SmartLinksWithRawResponse:
    """``client.smart_links.with_raw_response``: each method answers with a
    :class:`~visiono_async.RawResponse` around what ``client.smart_links``'s returns."""

    def __init__(self, resource: SmartLinks) -> None:
        self.list_page = raw_response_wrapper(resource.list_page)
        self.create = raw_response_wrapper(resource.create)
        self.get = raw_response_wrapper(resource.get)
        self.update = raw_response_wrapper(resource.update)
        self.archive = raw_response_wrapper(resource.archive)
        self.submissions = raw_response_wrapper(resource.submissions)
        self.download_urls = raw_response_wrapper(resource.download_urls)
        self.qrcode = raw_response_wrapper(resource.qrcode)
