"""Walking another API's list endpoint in a custom source: pages read as tolerantly as ours.

``walk_pages`` takes a function that fetches one page (its query parameters in, the
page's parsed JSON out) and yields every item of every page, following page numbers
(``current_page``/``last_page``), ``links.next`` / ``next_page_url``, cursors or
``has_more``, exactly as the client reads Visiono's own listings (``_pagination``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .._pagination import parse_page
from .._session import APIResponse

__all__ = ["walk_pages"]


def _response(body: Any) -> APIResponse:
    mapping = body if isinstance(body, Mapping) else {}
    meta = mapping.get("meta")
    links = mapping.get("links")
    return APIResponse(
        status=200,
        body=body,
        data=mapping.get("data", body),
        meta=meta if isinstance(meta, Mapping) else {},
        links=links if isinstance(links, Mapping) else {},
        headers={},
        request_id=None,
        received_at=dt.datetime.now(dt.timezone.utc),
    )


async def walk_pages(
    fetch_page: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    params: Mapping[str, Any] | None = None,
    max_pages: int = 100_000,
) -> AsyncIterator[dict[str, Any]]:
    """Every item (a JSON object) of a paginated listing, page after page, lazily.

    Example::

        async def page(params):
            async with http.get(f"{api}/photos", params=params, headers=auth) as r:
                return await r.json()

        async for photo in walk_pages(page):
            ...

    Args:
        fetch_page: Fetches the page for the given query parameters (``page``,
            ``cursor`` or those of a ``links.next`` URL, added to ``params``) and returns
            its parsed JSON body: an object with ``data`` (or ``items``/``results``) and
            pagination meta, or a bare list (the one and only page).
        params: The query parameters of the first page.
        max_pages: Refuse to follow more pages than this (a server that never ends).

    Yields:
        The items, as dicts.

    Raises:
        ValueError: A page holds no list of objects, the server repeats a page, or the
            listing runs past ``max_pages``.
    """
    current: dict[str, Any] = dict(params or {})
    seen: list[dict[str, Any]] = []
    for _ in range(max_pages):
        body = await fetch_page(dict(current))
        try:
            page = parse_page(_response(body), dict)
        except Exception as exc:
            raise ValueError(f"not a page of a listing: {exc}") from exc
        for item in page.items:
            yield item
        following = page.next_params(current)
        if following is None or not page.items:
            return
        if following == current or following in seen:
            raise ValueError(f"the listing repeats the page for {following}: stopped")
        seen.append(current)
        current = following
    raise ValueError(f"the listing goes on past {max_pages} pages: stopped")
