"""Pages of list endpoints, and lazy async iteration over every item of every page.

Visiono does not document how its lists are paginated, so a page is read tolerantly:
page-number meta (``current_page``, ``last_page``, ``per_page``, ``total``, also inside a
``pagination`` object, with ``page``/``pages``), a ``links.next`` URL, a cursor
(``meta.next_cursor`` or ``meta.cursor.next``), a ``next_page`` number or URL, a
``has_more`` flag, a ``total`` larger than what came so far, or a bare list, which is the
one and only page.

Where a page says more follow without saying how (``has_more``, or a ``total`` with no page
number), the next page is asked for as ``?page=N+1``; a server that then repeats a page
raises ``APIError(code="pagination_unknown")``: a listing never stops short in silence.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit

import attrs

from ._converter import invalid_response, structure
from ._exceptions import APIError

if TYPE_CHECKING:
    from ._session import APIResponse, Session

__all__ = ["AsyncPaginator", "Page", "parse_page"]

T = TypeVar("T")

_ITEM_KEYS = ("items", "results", "data")


@attrs.frozen
class Page(Generic[T]):
    """One page of a list endpoint.

    Attributes:
        items: The models on this page.
        current_page: The page number, when the API numbers pages.
        last_page: The number of the last page, when known.
        per_page: The page size, when known.
        total: The number of items on all pages, when known.
        next_url: The URL of the next page (``links.next``), when the API sends one.
        next_cursor: The cursor of the next page, when the API paginates by cursor.
        next_page: The number of the next page, when the API names it (``next_page``).
        has_more: Whether the API says more items follow (``has_more``), when it says so.
    """

    items: list[T]
    current_page: int | None = None
    last_page: int | None = None
    per_page: int | None = None
    total: int | None = None
    next_url: str | None = None
    next_cursor: str | None = None
    next_page: int | None = None
    has_more: bool | None = None

    @property
    def has_next(self) -> bool:
        """Whether the API says another page follows this one."""
        if self.next_cursor or self.next_url or self.next_page is not None:
            return True
        if self.current_page is not None and self.last_page is not None:
            return self.current_page < self.last_page
        return bool(self.has_more)

    @property
    def says_how(self) -> bool:
        """Whether the API says how to fetch the next page (not just that there is one)."""
        numbered = self.current_page is not None and self.last_page is not None
        return bool(self.next_cursor or self.next_url or self.next_page is not None or numbered)

    def next_params(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The query parameters that fetch the next page, or None after the last page.

        Args:
            params: The query parameters that fetched this page.

        Returns:
            ``params`` with the cursor, page number or ``links.next`` query applied.
        """
        if not self.has_next:
            return None
        following = {k: v for k, v in params.items() if k not in ("page", "cursor")}
        if self.next_cursor:
            return {**following, "cursor": self.next_cursor}
        if self.current_page is not None and self.last_page is not None:
            return {**following, "page": self.current_page + 1}
        if self.next_page is not None:
            return {**following, "page": self.next_page}
        if self.next_url:
            query = dict(parse_qsl(urlsplit(self.next_url).query, keep_blank_values=True))
            if query:
                return {**following, **query}
        if self.has_more:  # more, but not how: the page number is the only plausible way
            return {**following, "page": self.number(params) + 1}
        return None

    def number(self, params: Mapping[str, Any]) -> int:
        """This page's number: as the API says, else as asked for (``page``), else 1."""
        if self.current_page is not None:
            return self.current_page
        asked = str(params.get("page", "1"))
        return int(asked) if asked.isdigit() else 1


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(sources: list[Mapping[str, Any]], *keys: str) -> int | None:
    for source in sources:
        for key in keys:
            value = source.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
    return None


def _text(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("href")
    return value if isinstance(value, str) and value else None


def _flag(sources: list[Mapping[str, Any]], *keys: str) -> bool | None:
    for source in sources:
        for key in keys:
            value = source.get(key)
            if isinstance(value, bool):
                return value
    return None


def _next_page(
    sources: list[Mapping[str, Any]], response: APIResponse, method: str, path: str
) -> tuple[int | None, str | None]:
    """``next_page`` as a page number or a URL; anything else is a form the SDK cannot use."""
    for source in sources:
        value = source.get("next_page")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value), None
        if isinstance(value, str) and (value.startswith("/") or "://" in value):
            return None, value
        raise APIError(
            f"{method} {path}: the page names its next page as {value!r}, neither a page "
            "number nor a URL; the SDK does not know how to fetch it",
            status_code=response.status,
            code="pagination_unknown",
            request_id=response.request_id,
            method=method,
            path=path,
        )
    return None, None


def parse_page(
    response: APIResponse, item_type: type[T], *, method: str = "GET", path: str = ""
) -> Page[T]:
    """Read one page of ``item_type`` models from a list endpoint's response.

    Args:
        response: The response.
        item_type: The model of the items.
        method: The request's method, for error messages.
        path: The request's path, for error messages.

    Returns:
        The page.

    Raises:
        APIError: The response holds no list of items, or an item does not fit the model
            (``code="invalid_response"``).
    """
    body = _mapping(response.body)
    meta = response.meta
    sources = [meta, _mapping(meta.get("pagination")), _mapping(body.get("pagination")), body]
    raw: Any = response.data
    if isinstance(raw, Mapping):
        raw = next((raw[k] for k in _ITEM_KEYS if isinstance(raw.get(k), list)), None)
    if not isinstance(raw, list):
        raise invalid_response(
            response,
            f"expected a list of {item_type.__name__} objects, got {type(raw).__name__}",
            method=method,
            path=path,
        )
    items: list[T] = []
    for index, value in enumerate(raw):
        try:
            items.append(structure(value, item_type))
        except ValueError as exc:
            message = f"item {index}: {exc}"
            raise invalid_response(response, message, method=method, path=path) from exc
    current_page = _int(sources, "current_page", "page")
    last_page = _int(sources, "last_page", "total_pages", "pages")
    per_page = _int(sources, "per_page", "page_size")
    total = _int(sources, "total", "total_count")
    if last_page is None and current_page is not None and per_page and total is not None:
        last_page = max(1, math.ceil(total / per_page))
    cursor = _mapping(meta.get("cursor"))
    next_page, next_page_url = _next_page(sources, response, method, path)
    return Page(
        items=items,
        current_page=current_page,
        last_page=last_page,
        per_page=per_page,
        total=total,
        next_url=_text(response.links.get("next"))
        or _text(body.get("next_page_url"))
        or next_page_url,
        next_cursor=_text(meta.get("next_cursor")) or _text(cursor.get("next")),
        next_page=next_page,
        has_more=_flag(sources, "has_more", "hasMore"),
    )


class AsyncPaginator(Generic[T]):
    """Every item of a list endpoint, fetched lazily one page at a time.

    ``async for item in paginator`` fetches a page only when the previous one is used up,
    so memory does not grow with the number of items; each ``async for`` starts again from
    the first page. :meth:`pages` iterates over whole :class:`Page` objects instead.

    A server that sends the same page again (the same page number, the same request, or
    the same items) stops the iteration with an ``APIError`` (``code="pagination_loop"``)
    rather than looping forever.
    """

    def __init__(
        self,
        session: Session,
        path: str,
        item_type: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        self._session = session
        self._path = path
        self._item_type = item_type
        self._params = {k: v for k, v in (params or {}).items() if v is not None}
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<AsyncPaginator {self._item_type.__name__} GET {self._path} {self._params!r}>"

    def __aiter__(self) -> AsyncIterator[T]:
        return _Items(_Pages(self))

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate over whole pages, fetching each when the previous one is used up.

        Returns:
            An async iterator of pages.
        """
        return _Pages(self)

    async def _fetch(self, params: Mapping[str, Any]) -> tuple[APIResponse, Page[T]]:
        response = await self._session.request(
            "GET", self._path, params=params, timeout=self._timeout
        )
        return response, parse_page(response, self._item_type, path=self._path)


class _Pages(AsyncIterator[Page[T]]):
    def __init__(self, paginator: AsyncPaginator[T]) -> None:
        self._paginator = paginator
        self._next: dict[str, Any] | None = dict(paginator._params)
        self._requested: set[tuple[tuple[str, str], ...]] = set()
        self._page_numbers: set[int] = set()
        self._previous_ids: tuple[object, ...] = ()
        self._seen = 0
        self._guessed: str | None = None  # why the page now asked for is a guess

    def __aiter__(self) -> _Pages[T]:
        return self

    async def __anext__(self) -> Page[T]:
        params = self._next
        if params is None:
            raise StopAsyncIteration
        self._next = None
        request = tuple(sorted((k, str(v)) for k, v in params.items()))
        if request in self._requested:
            raise self._repeat(None, f"it pointed again at a page already fetched ({params!r})")
        self._requested.add(request)
        response, page = await self._paginator._fetch(params)
        number = page.current_page
        if number is not None and number in self._page_numbers:
            raise self._repeat(response, f"page {number} came back again for {params!r}")
        ids = tuple(getattr(item, "id", None) for item in page.items)
        if ids and None not in ids and ids == self._previous_ids:
            raise self._repeat(response, f"the items of the previous page came back for {params!r}")
        if number is not None:
            self._page_numbers.add(number)
        self._previous_ids = ids
        self._seen += len(page.items)
        self._guessed = None
        if page.items:
            self._next = page.next_params(params)
            if self._next is not None and not page.says_how:
                self._guessed = "it says more items follow (has_more)"
            elif (
                self._next is None
                and page.has_more is not False  # an explicit "no more" is believed
                and page.total is not None
                and self._seen < page.total
            ):
                # A total larger than what came, and no word on how to go on.
                following = {k: v for k, v in params.items() if k not in ("page", "cursor")}
                self._next = {**following, "page": page.number(params) + 1}
                self._guessed = f"its total is {page.total} and {self._seen} came so far"
        return page

    def _repeat(self, response: APIResponse | None, reason: str) -> APIError:
        if self._guessed is None:
            return self._loop(response, reason)
        path = self._paginator._path
        return APIError(
            f"stopped paginating GET {path}: {self._guessed}, but asking for the next page "
            f"by number did not give it ({reason}); the SDK does not know how this server "
            "pages",
            status_code=response.status if response is not None else 200,
            code="pagination_unknown",
            request_id=response.request_id if response is not None else None,
            method="GET",
            path=path,
        )

    def _loop(self, response: APIResponse | None, reason: str) -> APIError:
        return APIError(
            f"stopped paginating GET {self._paginator._path}: the server repeats pages ({reason})",
            status_code=response.status if response is not None else 200,
            code="pagination_loop",
            request_id=response.request_id if response is not None else None,
            method="GET",
            path=self._paginator._path,
        )


class _Items(AsyncIterator[T]):
    def __init__(self, pages: _Pages[T]) -> None:
        self._pages = pages
        self._buffer: list[T] = []
        self._position = 0

    def __aiter__(self) -> _Items[T]:
        return self

    async def __anext__(self) -> T:
        while self._position >= len(self._buffer):
            page = await self._pages.__anext__()
            self._buffer, self._position = page.items, 0
        item = self._buffer[self._position]
        self._position += 1
        return item
