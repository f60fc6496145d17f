"""``client.permanent_links``: the older vocabulary of smart links, against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from visiono_async import NotFoundError, ValidationError, VisionoClient
from visiono_async.models import PermanentLink


class TestCreateAndGet:
    """``create`` takes ``name`` (and ``slug``); ``get`` fetches the link."""

    async def test_create(self, client: VisionoClient) -> None:
        """The name doubles as instructions when none are given; the slug shapes the URL."""
        pl = await client.permanent_links.create(name="Check-in", slug="check-in", tags=["a"])
        assert ("Check-in", "Check-in", "check-in", True, True, ["a"]) == (
            pl.name,
            pl.instructions,
            pl.slug,
            pl.is_active,
            bool(pl.url and pl.url.endswith("/check-in")),
            pl.tags,
        )

    async def test_get(self, client: VisionoClient) -> None:
        """The link as created."""
        pl = await client.permanent_links.create(name="Check-in")
        assert pl == await client.permanent_links.get(pl.id)

    async def test_name_is_required(self, client: VisionoClient) -> None:
        """A blank name is a ``ValidationError`` on ``name``."""
        with pytest.raises(ValidationError) as caught:
            await client.permanent_links.create(name="")
        assert ["name"] == list(caught.value.errors)

    async def test_same_link_as_a_smart_link(self, client: VisionoClient) -> None:
        """A permanent link is a smart link under another name."""
        pl = await client.permanent_links.create(name="Check-in", instructions="Photos please")
        sl = await client.smart_links.get(pl.id)
        assert (pl.id, "Photos please") == (sl.id, sl.instructions)


class TestUpdateAndDelete:
    """``update`` PATCHes some fields; ``delete`` removes the link."""

    async def test_update(self, client: VisionoClient) -> None:
        """Changed fields change; others stay."""
        pl = await client.permanent_links.create(name="Check-in", tags=["a"])
        updated = await client.permanent_links.update(pl.id, name="Check-out", is_active=False)
        assert ("Check-out", False, ["a"]) == (updated.name, updated.is_active, updated.tags)

    @pytest.mark.parametrize("answer", ["object", "empty", "no_content"])
    async def test_delete(self, client: VisionoClient, emulator: Any, answer: str) -> None:
        """After ``delete`` the link is gone, whatever form the answer takes."""
        pl = await client.permanent_links.create(name="Check-in")
        emulator.delete_answer = answer
        assert None is await client.permanent_links.delete(pl.id)
        with pytest.raises(NotFoundError):
            await client.permanent_links.get(pl.id)


class TestList:
    """``list`` iterates every link; ``list_page`` fetches one page."""

    async def test_list(self, client: VisionoClient) -> None:
        """Every link, each a ``PermanentLink``."""
        created = {(await client.permanent_links.create(name=f"L{n}")).id for n in range(5)}
        found = [pl async for pl in client.permanent_links.list(per_page=2)]
        assert (created, {PermanentLink}) == ({pl.id for pl in found}, {type(pl) for pl in found})

    async def test_list_page(self, client: VisionoClient) -> None:
        """Page 1 of 5 links at 2 a page."""
        for n in range(5):
            await client.permanent_links.create(name=f"L{n}")
        page = await client.permanent_links.list_page(per_page=2)
        assert (1, 3, 2, True) == (
            page.current_page,
            page.last_page,
            len(page.items),
            page.has_next,
        )
