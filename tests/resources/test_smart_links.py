"""``client.smart_links`` against the emulator, over real loopback HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from visiono_async import NotFoundError, ValidationError, VisionoClient
from visiono_async.models import SmartLink

FLEET = {
    "instructions": "Vehicle inspection photos",
    "custom_slug": "fleet-inspection",
    "unique_field_label": "License Plate",
    "show_full_name_field": True,
    "full_name_required": True,
    "require_gps": True,
    "tags": ["fleet", "inspection"],
    "items": [
        {"instructions": "Front view", "is_required": True},
        {"instructions": "Damage (if any)", "is_required": False},
    ],
}


async def fleet_link(client: VisionoClient) -> SmartLink:
    return await client.smart_links.create(**FLEET)


class TestCreate:
    """``create`` takes the vendor's documented options."""

    async def test_returns_the_link(self, client: VisionoClient) -> None:
        """Every option comes back on the ``SmartLink``."""
        sl = await fleet_link(client)
        expected = (
            True,
            "fleet-inspection",
            True,
            "License Plate",
            (True, True, True),
            ["fleet", "inspection"],
            [("Front view", True), ("Damage (if any)", False)],
        )
        actual = (
            sl.id.startswith("sl_"),
            sl.custom_slug,
            sl.is_active,
            sl.unique_field_label,
            (sl.show_full_name_field, sl.full_name_required, sl.require_gps),
            sl.tags,
            [(item.instructions, item.is_required) for item in sl.items],
        )
        assert expected == actual

    async def test_bad_slug(self, client: VisionoClient) -> None:
        """A slug with capitals is a ``ValidationError`` on ``custom_slug``."""
        with pytest.raises(ValidationError) as caught:
            await client.smart_links.create(instructions="x", custom_slug="Fleet Inspection")
        assert ["custom_slug"] == list(caught.value.errors)


class TestGetAndUpdate:
    """``get`` fetches a link; ``update`` changes it with PUT."""

    async def test_get(self, client: VisionoClient) -> None:
        """The link as created."""
        sl = await fleet_link(client)
        assert sl == await client.smart_links.get(sl.id)

    async def test_update(self, client: VisionoClient, emulator: Any) -> None:
        """Only the given fields change, and ``updated_at`` moves."""
        emulator.clock.freeze()  # timestamps are whole seconds: a running clock may tick
        sl = await fleet_link(client)
        emulator.advance_time(60)
        updated = await client.smart_links.update(sl.id, instructions="New", tags=["fleet"])
        assert sl.updated_at is not None
        assert ("New", ["fleet"], "License Plate", sl.updated_at + timedelta(seconds=60)) == (
            updated.instructions,
            updated.tags,
            updated.unique_field_label,
            updated.updated_at,
        )

    async def test_unknown_link(self, client: VisionoClient) -> None:
        """An unknown id is a ``NotFoundError``."""
        with pytest.raises(NotFoundError):
            await client.smart_links.get("sl_doesnotexist")


class TestArchive:
    """``archive`` deactivates a link (``DELETE``)."""

    async def test_archive(self, client: VisionoClient) -> None:
        """The answer and a later ``get`` are inactive, with ``archived_at`` set."""
        sl = await fleet_link(client)
        archived = await client.smart_links.archive(sl.id)
        again = await client.smart_links.get(sl.id)
        assert archived is not None
        assert (False, False, True) == (
            archived.is_active,
            again.is_active,
            archived.archived_at is not None,
        )

    @pytest.mark.parametrize("answer", ["empty", "no_content"])
    async def test_an_answer_without_the_link_is_none(
        self, client: VisionoClient, emulator: Any, answer: str
    ) -> None:
        """A 204 or an empty 200 is a success: ``None``, and the link is archived."""
        sl = await fleet_link(client)
        emulator.delete_answer = answer
        assert await client.smart_links.archive(sl.id) is None
        assert not (await client.smart_links.get(sl.id)).is_active


class TestList:
    """``list`` iterates every link, with ``is_active`` and ``tags`` filters."""

    async def test_filters(self, client: VisionoClient) -> None:
        """Archived links by ``is_active=False``; tagged links by ``tags``."""
        fleet = await fleet_link(client)
        other = await client.smart_links.create(instructions="Check-in", tags=["property"])
        gone = await client.smart_links.create(instructions="Old")
        await client.smart_links.archive(gone.id)
        archived = [sl.id async for sl in client.smart_links.list(is_active=False)]
        active = {sl.id async for sl in client.smart_links.list(is_active=True)}
        tagged = [sl.id async for sl in client.smart_links.list(tags=["property"])]
        assert ([gone.id], {fleet.id, other.id}, [other.id]) == (archived, active, tagged)

    async def test_every_page(self, client: VisionoClient) -> None:
        """7 links at 3 a page: every one, via three pages."""
        created = {(await client.smart_links.create(instructions=f"{n}")).id for n in range(7)}
        pages = [p async for p in client.smart_links.list(per_page=3).pages()]
        assert (created, [3, 3, 1]) == (
            {sl.id for p in pages for sl in p.items},
            [len(p.items) for p in pages],
        )

    async def test_list_page(self, client: VisionoClient) -> None:
        """One page, with its numbers."""
        for n in range(4):
            await client.smart_links.create(instructions=f"{n}")
        page = await client.smart_links.list_page(page=2, per_page=3)
        assert (2, 2, 4, 1, False) == (
            page.current_page,
            page.last_page,
            page.total,
            len(page.items),
            page.has_next,
        )


class TestSubmissionsAndDownloads:
    """Photos uploaded through a link carry its unique field and the submitter's name."""

    async def test_submissions(self, client: VisionoClient, emulator: Any) -> None:
        """``pls_`` ids, the link's id, the unique value and the full name."""
        sl = await fleet_link(client)
        await emulator.simulate_smart_link_submission(
            sl.id, unique_value="AB-123-CD", full_name="Ada Lovelace", gps=(45.0, 9.0)
        )
        (sub,) = await client.smart_links.submissions(sl.id)
        assert (True, sl.id, None, "AB-123-CD", "Ada Lovelace", sl.items[0].id) == (
            sub.id.startswith("pls_"),
            sub.smart_link_id,
            sub.photo_request_id,
            sub.unique_value,
            sub.full_name,
            sub.item_id,
        )

    async def test_download_urls(self, client: VisionoClient, emulator: Any) -> None:
        """``smart_link_id`` instead of ``photo_request_id``; entries name their submitter."""
        sl = await fleet_link(client)
        await emulator.simulate_smart_link_submission(
            sl.id, unique_value="AB-123-CD", full_name="Ada", gps=(45.0, 9.0)
        )
        urls = await client.smart_links.download_urls(sl.id)
        (entry,) = urls.submissions
        assert (sl.id, None, "AB-123-CD", "Ada", True, True) == (
            urls.smart_link_id,
            urls.photo_request_id,
            entry.unique_value,
            entry.full_name,
            bool(entry.download_url),
            urls.expires_at is not None,
        )

    async def test_qrcode(self, client: VisionoClient) -> None:
        """A PNG URL."""
        sl = await fleet_link(client)
        assert (await client.smart_links.qrcode(sl.id)).endswith(".png")
