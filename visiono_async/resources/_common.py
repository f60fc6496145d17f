"""The mechanics the resource classes share, so that each public method is a thin call.

:func:`request_model` and :func:`request_all` send calls and build models;
:class:`Collection` holds the endpoints of one collection (``{path}``, ``{path}/{id}``) and
:class:`UploadCollection` adds those of the items that receive photos (photo requests and
smart links). A resource module declares its collection once, at the top, and its methods
call it with the client's session.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from .._converter import invalid_response, structure_response
from .._ids import validate_id
from .._pagination import AsyncPaginator, Page, parse_page
from ..models import DownloadURLs, Submission

if TYPE_CHECKING:
    from .._session import Recover, Session

__all__ = ["Collection", "UploadCollection", "request_all", "request_model"]

T = TypeVar("T")
M = TypeVar("M")


async def request_model(
    session: Session,
    method: str,
    path: str,
    model: type[T],
    *,
    json: Any = None,
    timeout: float | None,
    idempotency_key: str | None = None,
    recover: Recover | None = None,
) -> T:
    """Send one call and build ``model`` from the response's ``data``.

    Raises:
        APIError: The API refused the call, or its answer does not fit ``model``
            (``code="invalid_response"``).
        APIConnectionError: The call could not be completed.
    """
    response = await session.request(
        method, path, json=json, timeout=timeout, idempotency_key=idempotency_key, recover=recover
    )
    return structure_response(response, model, method=method, path=path)


async def request_model_or_none(
    session: Session,
    method: str,
    path: str,
    model: type[T],
    *,
    timeout: float | None,
) -> T | None:
    """Like :func:`request_model`, for calls whose answer may carry no object.

    Visiono does not document its DELETE answers: a 204, an empty 200 or one with no
    object in it (``{"success": true}``, ``{"data": null}``) means the server acted and
    said nothing more, and gives ``None``; an object is built into ``model``.

    Raises:
        APIError: The API refused the call, or the object in its answer does not fit
            ``model`` (``code="invalid_response"``).
        APIConnectionError: The call could not be completed.
    """
    response = await session.request(method, path, timeout=timeout)
    data = response.data
    if response.status == 204 or data is None:
        return None
    if isinstance(data, Mapping) and "id" not in data:
        return None  # a status-only answer: nothing of the object to build
    return structure_response(response, model, method=method, path=path)


async def request_all(
    session: Session, path: str, model: type[T], *, timeout: float | None
) -> list[T]:
    """Every item of every page of the list endpoint ``GET {path}``, in one list."""
    paginator = AsyncPaginator(session, path, model, timeout=timeout)
    return [item async for item in paginator]


@attrs.frozen
class Collection(Generic[M]):
    """The endpoints of one collection of ``model`` objects: ``{path}`` and ``{path}/{id}``.

    Every method that takes an id checks it with :func:`validate_id` before anything is
    sent, so a bad id is a ``ValueError`` (or ``TypeError``) naming ``id_name``.

    Attributes:
        path: The collection's path (``"/smart-links"``).
        model: The model of its items.
        id_name: The name of the id parameter of the public methods, for error messages.
    """

    path: str
    model: type[M]
    id_name: str = attrs.field(kw_only=True)

    def item_path(self, item_id: str, suffix: str = "", *, id_name: str | None = None) -> str:
        """``{path}/{id}{suffix}``, the id checked and quoted as one path segment.

        Raises:
            TypeError: ``item_id`` is not a string.
            ValueError: ``item_id`` cannot be an id; the message names ``id_name`` (the
                collection's when None).
        """
        segment = validate_id(item_id, name=id_name if id_name is not None else self.id_name)
        return f"{self.path}/{segment}{suffix}"

    def list(
        self, session: Session, params: Mapping[str, Any], *, timeout: float | None
    ) -> AsyncPaginator[M]:
        """Every item matching ``params``, fetched lazily; nothing is sent until iterated."""
        return AsyncPaginator(session, self.path, self.model, params=params, timeout=timeout)

    async def list_page(
        self, session: Session, page: int, params: Mapping[str, Any], *, timeout: float | None
    ) -> Page[M]:
        """Page number ``page`` of the items matching ``params``."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be a whole number >= 1, got {page!r}")
        response = await session.request(
            "GET", self.path, params={"page": page, **params}, timeout=timeout
        )
        return parse_page(response, self.model, path=self.path)

    async def create(
        self,
        session: Session,
        fields: Mapping[str, Any],
        extra: Mapping[str, Any],
        *,
        idempotency_key: str | None,
        timeout: float | None,
        recover: Recover | None = None,
    ) -> M:
        """``POST {path}`` with the ``fields`` that were given (not None), then ``extra`` as is;
        ``recover`` finds what an ambiguous failure may have created (``Session.request``)."""
        body = {**{k: v for k, v in fields.items() if v is not None}, **extra}
        return await request_model(
            session,
            "POST",
            self.path,
            self.model,
            json=body,
            timeout=timeout,
            idempotency_key=idempotency_key,
            recover=recover,
        )

    async def find(
        self,
        session: Session,
        matches: Callable[[M], bool],
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None,
    ) -> M | None:
        """The first item of ``GET {path}`` (every page) that ``matches``, or None."""
        async for item in AsyncPaginator(
            session, self.path, self.model, params=params, timeout=timeout
        ):
            if matches(item):
                return item
        return None

    async def get(
        self,
        session: Session,
        item_id: str,
        *,
        timeout: float | None,
        id_name: str | None = None,
    ) -> M:
        """``GET {path}/{id}``; ``id_name`` names the parameter when not the usual one."""
        path = self.item_path(item_id, id_name=id_name)
        return await request_model(session, "GET", path, self.model, timeout=timeout)

    async def update(
        self,
        session: Session,
        item_id: str,
        fields: Mapping[str, Any],
        *,
        method: str,
        timeout: float | None,
    ) -> M:
        """``{method} {path}/{id}`` with exactly ``fields``; refused when there are none.

        Raises:
            ValueError: ``item_id`` cannot be an id, or ``fields`` is empty (nothing is sent).
        """
        path = self.item_path(item_id)
        if not fields:
            raise ValueError("update() needs at least one field to change")
        return await request_model(session, method, path, self.model, json=fields, timeout=timeout)

    async def delete(self, session: Session, item_id: str, *, timeout: float | None) -> None:
        """``DELETE {path}/{id}``, its answer not read (for endpoints that do not return the item)."""
        await session.request("DELETE", self.item_path(item_id), timeout=timeout)


@attrs.frozen
class UploadCollection(Collection[M]):
    """A collection whose items receive photos: photo requests and smart links.

    Besides :class:`Collection`'s endpoints, each item has ``/submissions``,
    ``/download-urls`` and ``/qrcode``.
    """

    async def submissions(
        self, session: Session, item_id: str, *, timeout: float | None
    ) -> builtins.list[Submission]:
        """Every submission of one item (all pages, if the API pages them)."""
        path = self.item_path(item_id, "/submissions")
        return await request_all(session, path, Submission, timeout=timeout)

    async def download_urls(
        self, session: Session, item_id: str, *, timeout: float | None
    ) -> DownloadURLs:
        """The signed URLs of one item's photos: ``data`` plus the expiry ``meta``."""
        path = self.item_path(item_id, "/download-urls")
        response = await session.request("GET", path, timeout=timeout)
        data = response.data
        if isinstance(data, Mapping):
            data = {
                "expires_in_seconds": response.meta.get("expires_in_seconds"),
                "urls_valid_for": response.meta.get("urls_valid_for"),
                **data,
                "fetched_at": response.received_at,
            }
        return structure_response(response, DownloadURLs, method="GET", path=path, data=data)

    async def qrcode(self, session: Session, item_id: str, *, timeout: float | None) -> str:
        """The QR image URL of one item (``{"data": {"qrcode_url": ...}}``).

        Raises:
            APIError: The answer holds no URL (``code="invalid_response"``).
        """
        path = self.item_path(item_id, "/qrcode")
        response = await session.request("GET", path, timeout=timeout)
        data = response.data
        url = data.get("qrcode_url") if isinstance(data, Mapping) else data
        if not isinstance(url, str) or not url:
            raise invalid_response(
                response, "expected data.qrcode_url to be a URL", method="GET", path=path
            )
        return url


def string_list(value: Iterable[str] | None, *, name: str) -> list[str] | None:
    """``value`` as a list of strings; a bare string is a ``TypeError``, not a list of letters."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not one string: use [{value!r}]")
    return list(value)
