"""Pages read tolerantly from any pagination style, and lazy iteration over every page."""

from __future__ import annotations

import gc
import weakref
from datetime import datetime, timezone
from typing import Any

import pytest

from visiono_async import APIError, VisionoClient
from visiono_async._pagination import Page, parse_page
from visiono_async._session import APIResponse
from visiono_async.models import PhotoRequest, PhotoRequestItem
from visiono_async.testing import sample_jpeg


def response(body: Any) -> APIResponse:
    """An API response around ``body``, taken apart the way the session does."""
    wrapped = isinstance(body, dict) and "data" in body
    return APIResponse(
        status=200,
        body=body,
        data=body["data"] if wrapped else body,
        meta=body.get("meta") or {} if wrapped else {},
        links=body.get("links") or {} if wrapped else {},
        headers={},
        request_id=None,
        received_at=datetime.now(timezone.utc),
    )


def items(*ids: str) -> list[dict[str, Any]]:
    return [{"id": i} for i in ids]


class TestParsePage:
    """Every documented and likely pagination style gives the same ``Page``."""

    def test_page_number_meta(self) -> None:
        """``current_page``, ``last_page``, ``per_page`` and ``total`` from ``meta``."""
        body = {
            "data": items("pri_1", "pri_2"),
            "meta": {"current_page": 1, "last_page": 3, "per_page": 2, "total": 5},
            "links": {"next": "http://h/api/v1/x?page=2&per_page=2", "prev": None},
        }
        page = parse_page(response(body), PhotoRequestItem)
        expected = Page(
            items=[PhotoRequestItem("pri_1"), PhotoRequestItem("pri_2")],
            current_page=1,
            last_page=3,
            per_page=2,
            total=5,
            next_url="http://h/api/v1/x?page=2&per_page=2",
        )
        assert (expected, True, {"page": 2, "per_page": 2}) == (
            page,
            page.has_next,
            page.next_params({"per_page": 2}),
        )

    def test_last_page_has_no_next(self) -> None:
        """``current_page == last_page`` and no ``links.next`` ends the iteration."""
        body = {"data": items("pri_1"), "meta": {"current_page": 3, "last_page": 3}}
        page = parse_page(response(body), PhotoRequestItem)
        assert (False, None) == (page.has_next, page.next_params({"page": 3}))

    def test_last_page_derived_from_total(self) -> None:
        """Without ``last_page``, ``total`` and ``per_page`` give it."""
        body = {"data": items("pri_1"), "meta": {"current_page": 1, "per_page": 10, "total": 25}}
        assert 3 == parse_page(response(body), PhotoRequestItem).last_page

    def test_links_next_only(self) -> None:
        """Only ``links.next``: its query string is the next request's parameters."""
        body = {"data": items("pri_1"), "links": {"next": "https://h/v1/x?cursor=abc&per_page=5"}}
        page = parse_page(response(body), PhotoRequestItem)
        actual = page.next_params({"status": "pending", "per_page": 5})
        assert {"status": "pending", "per_page": "5", "cursor": "abc"} == actual

    @pytest.mark.parametrize(
        "meta",
        [{"next_cursor": "c2"}, {"cursor": {"next": "c2", "prev": None}}],
        ids=["meta.next_cursor", "meta.cursor.next"],
    )
    def test_cursor(self, meta: dict[str, Any]) -> None:
        """A cursor replaces any page number in the next request."""
        page = parse_page(response({"data": items("pri_1"), "meta": meta}), PhotoRequestItem)
        assert ("c2", {"per_page": 5, "cursor": "c2"}) == (
            page.next_cursor,
            page.next_params({"per_page": 5, "page": 1}),
        )

    def test_bare_list_is_the_only_page(self) -> None:
        """A body that is just a list is one page with no next."""
        page = parse_page(response(items("pri_1", "pri_2")), PhotoRequestItem)
        assert (2, False) == (len(page.items), page.has_next)

    def test_laravel_top_level_pagination(self) -> None:
        """Page numbers and ``next_page_url`` at the top level of the body also count."""
        body = {
            "data": items("pri_1"),
            "current_page": 1,
            "last_page": 2,
            "next_page_url": "https://h/v1/x?page=2",
        }
        page = parse_page(response(body), PhotoRequestItem)
        assert (1, 2, "https://h/v1/x?page=2") == (page.current_page, page.last_page, page.next_url)

    def test_items_under_a_key(self) -> None:
        """``data`` as an object with an ``items`` list."""
        body = {"data": {"items": items("pri_1")}}
        assert [PhotoRequestItem("pri_1")] == parse_page(response(body), PhotoRequestItem).items

    def test_not_a_list_is_an_invalid_response(self) -> None:
        """An object without a list is an ``APIError`` with ``code="invalid_response"``."""
        with pytest.raises(APIError, match="expected a list of PhotoRequestItem") as caught:
            parse_page(response({"data": {"id": "pri_1"}}), PhotoRequestItem, path="/x")
        assert "invalid_response" == caught.value.code

    def test_bad_item_names_its_index(self) -> None:
        """An item that does not fit the model is reported with its position."""
        with pytest.raises(APIError, match=r"item 1: .*required field missing @ \$\.id"):
            parse_page(response({"data": [{"id": "pri_1"}, {}]}), PhotoRequestItem)


async def create(client: VisionoClient, count: int) -> list[PhotoRequest]:
    specs = [{"instructions": f"Photo {n}"} for n in range(count)]
    return await client.photo_requests.create_many(specs)


class TestAsyncPaginator:
    """``async for`` walks every page lazily; ``.pages()`` yields whole pages."""

    async def test_iterates_every_item_of_every_page(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """40 requests at 15 a page: every one, once, in 3 page calls."""
        created = await create(client, 40)
        before = emulator.count("GET", "/photo-requests")
        seen = [pr.id async for pr in client.photo_requests.list(per_page=15)]
        calls = emulator.count("GET", "/photo-requests") - before
        assert (sorted(pr.id for pr in created), 40, 3) == (sorted(seen), len(set(seen)), calls)

    async def test_is_lazy(self, client: VisionoClient, emulator: Any) -> None:
        """Nothing is sent until iteration starts, and only the pages used are fetched."""
        await create(client, 40)
        before = emulator.count("GET", "/photo-requests")
        paginator = client.photo_requests.list(per_page=15)
        not_yet = emulator.count("GET", "/photo-requests") - before
        iterator = aiter(paginator)
        first = [await anext(iterator) for _ in range(16)]
        assert (0, 16, 2) == (
            not_yet,
            len(first),
            emulator.count("GET", "/photo-requests") - before,
        )

    async def test_earlier_pages_are_released(self, client: VisionoClient) -> None:
        """Once iteration moves to the next page, the previous page's items can be freed."""
        await create(client, 40)
        iterator = aiter(client.photo_requests.list(per_page=15))
        first = weakref.ref(await anext(iterator))
        for _ in range(15):
            await anext(iterator)
        gc.collect()
        assert None is first()

    async def test_pages(self, client: VisionoClient) -> None:
        """``.pages()`` yields pages with their numbers and sizes."""
        await create(client, 40)
        pages = [page async for page in client.photo_requests.list(per_page=15).pages()]
        actual = [(p.current_page, p.last_page, p.total, len(p.items)) for p in pages]
        assert [(1, 3, 40, 15), (2, 3, 40, 15), (3, 3, 40, 10)] == actual

    async def test_each_iteration_starts_again(self, client: VisionoClient) -> None:
        """Iterating the same paginator twice gives every item twice."""
        await create(client, 5)
        paginator = client.photo_requests.list(per_page=2)
        first = [pr.id async for pr in paginator]
        second = [pr.id async for pr in paginator]
        assert (5, first) == (len(first), second)

    async def test_empty_list(self, client: VisionoClient) -> None:
        """No photo requests: one call, no items."""
        assert [] == [pr async for pr in client.photo_requests.list()]

    async def test_a_repeated_page_stops_with_a_clear_error(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A server that answers page 1 whatever is asked stops after the second call."""
        stuck = {
            "data": [{"id": "pr_1"}],
            "meta": {"current_page": 1, "last_page": 5, "per_page": 1, "total": 5},
        }
        emulator.faults.fail_next(10, status=200, body=stuck, path="/photo-requests")
        with pytest.raises(APIError, match="repeats pages") as caught:
            _ = [pr async for pr in client.photo_requests.list(per_page=1)]
        assert ("pagination_loop", 2) == (
            caught.value.code,
            emulator.count("GET", "/photo-requests"),
        )

    async def test_a_repeated_next_link_stops_with_a_clear_error(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A ``links.next`` that always points at the same URL stops before asking twice."""
        for n in range(5):
            body = {"data": [{"id": f"pr_{n}"}], "links": {"next": "http://x/pr?c=same"}}
            emulator.faults.fail_next(1, status=200, body=body, path="/photo-requests")
        with pytest.raises(APIError, match="already fetched"):
            _ = [pr async for pr in client.photo_requests.list()]
        assert 2 == emulator.count("GET", "/photo-requests")

    async def test_the_same_items_again_stop_with_a_clear_error(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """Fresh cursors with the same items every time still stop the loop."""
        for n in range(5):
            body = {"data": [{"id": "pr_1"}], "meta": {"next_cursor": f"c{n}"}}
            emulator.faults.fail_next(1, status=200, body=body, path="/photo-requests")
        with pytest.raises(APIError, match="items of the previous page"):
            _ = [pr async for pr in client.photo_requests.list()]


STYLES = ["meta", "links", "bare", "total", "has_more", "next_page", "nested"]


class TestEveryForm:
    """The emulator serves each pagination form it knows (all its own choice: Visiono
    documents none); the client reads every item of every one, in order."""

    @pytest.mark.parametrize("style", STYLES)
    async def test_every_item_of_every_page(
        self, client: VisionoClient, emulator: Any, style: str
    ) -> None:
        """Five requests, pages of two: all five, newest first, whatever the form."""
        created = [await client.photo_requests.create(instructions=f"r{n}") for n in range(5)]
        emulator.pagination = style
        listed = [pr.id async for pr in client.photo_requests.list(per_page=2)]
        assert [pr.id for pr in reversed(created)] == listed

    @pytest.mark.parametrize("style", STYLES)
    async def test_archive_with_no_ids_finds_every_request(
        self, client: VisionoClient, emulator: Any, style: str, tmp_path: Any
    ) -> None:
        """archive() with no ids lists every request (none missed) under each form: 16
        requests are two pages of the emulator's default 15."""
        created = [await client.photo_requests.create(instructions=f"r{n}") for n in range(16)]
        for pr in created:
            await emulator.simulate_submission(pr.id, content=sample_jpeg(2_000, seed=1))
        emulator.pagination = style
        report = await client.archive(tmp_path / "a", concurrency=4)
        assert (16, []) == (report.downloaded, report.failed)

    async def test_more_without_a_way_to_get_it_is_a_clear_error(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """``has_more`` true while ``?page=`` is ignored: ``pagination_unknown``, not a
        listing that stops after the first page."""
        for n in range(3):
            await client.photo_requests.create(instructions=f"r{n}")
        emulator.pagination = "has_more_unpaged"
        with pytest.raises(APIError) as caught:
            _ = [pr async for pr in client.photo_requests.list(per_page=2)]
        assert "pagination_unknown" == caught.value.code
        assert "has_more" in str(caught.value)

    async def test_a_next_page_token_it_cannot_use_is_a_clear_error(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """``next_page`` that is neither a number nor a URL: ``pagination_unknown``."""
        body = {"data": [], "next_page": "eyJvZmZzZXQiOjJ9"}
        emulator.faults.fail_next(1, status=200, path="/photo-requests", body=body)
        with pytest.raises(APIError) as caught:
            _ = [pr async for pr in client.photo_requests.list()]
        assert "pagination_unknown" == caught.value.code

    def test_an_explicit_no_more_is_believed(self) -> None:
        """``has_more: false`` ends the listing even when a total says otherwise."""
        page = parse_page(response({"data": items("a"), "has_more": False, "total": 9}), dict)
        assert (False, None) == (page.has_next, page.next_params({}))
