"""The mechanics the resources share: item paths, and the parameter an id error names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from visiono_async import VisionoClient
from visiono_async.models import WebhookEndpoint
from visiono_async.resources._common import Collection

WEBHOOKS = Collection("/webhooks", WebhookEndpoint, id_name="webhook_id")


class TestItemPath:
    """``item_path`` checks and quotes the id, then appends the suffix."""

    def test_quoted_and_suffixed(self) -> None:
        """The id becomes one quoted segment between the collection and the suffix."""
        assert "/webhooks/a%25b/test" == WEBHOOKS.item_path("a%b", "/test")

    def test_error_names_the_collection_parameter(self) -> None:
        """Without an override the message starts with the collection's id name."""
        with pytest.raises(ValueError, match=r"^webhook_id "):
            WEBHOOKS.item_path("a/b")

    def test_error_names_the_override(self) -> None:
        """A method whose parameter has another name passes it on."""
        with pytest.raises(ValueError, match=r"^id_or_code "):
            WEBHOOKS.item_path("a/b", id_name="id_or_code")


Call = Callable[[VisionoClient, str], Awaitable[Any]]

NAMED_CALLS: dict[str, tuple[Call, str]] = {
    "photo_requests.get": (lambda c, i: c.photo_requests.get(i), "id_or_code"),
    "photo_requests.cancel": (lambda c, i: c.photo_requests.cancel(i), "photo_request_id"),
    "smart_links.qrcode": (lambda c, i: c.smart_links.qrcode(i), "smart_link_id"),
    "permanent_links.delete": (lambda c, i: c.permanent_links.delete(i), "permanent_link_id"),
    "webhooks.test": (lambda c, i: c.webhooks.test(i), "webhook_id"),
}


class TestIdErrors:
    """A refused id is reported under the public parameter's name, before anything is sent."""

    @pytest.mark.parametrize(("invoke", "name"), list(NAMED_CALLS.values()), ids=list(NAMED_CALLS))
    async def test_names_the_parameter(
        self, client: VisionoClient, emulator: Any, invoke: Call, name: str
    ) -> None:
        """The message starts with the name the caller used, and no request is made."""
        with pytest.raises(ValueError, match=rf"^{name} "):
            await invoke(client, "a/b")
        assert 0 == len(emulator.requests)

    async def test_update_checks_the_id_before_the_fields(
        self, client: VisionoClient, emulator: Any
    ) -> None:
        """A bad id with nothing to change is reported as the bad id."""
        with pytest.raises(ValueError, match=r"^webhook_id "):
            await WEBHOOKS.update(client.session, "a/b", {}, method="PATCH", timeout=None)
        assert 0 == len(emulator.requests)


class TestArgumentShapes:
    async def test_a_bare_string_for_tags_is_refused(self, client: Any, emulator: Any) -> None:
        """tags="fleet" would be sent as five one-letter tags; it is a TypeError instead, with no request."""
        before = len(emulator.requests)
        with pytest.raises(TypeError, match="tags must be a list"):
            await client.smart_links.create(instructions="x", tags="fleet")
        with pytest.raises(TypeError, match="tags must be a list"):
            await client.permanent_links.create(name="x", tags="fleet")
        with pytest.raises(TypeError, match="tags must be a list"):
            await client.smart_links.list_page(tags="fleet")
        with pytest.raises(TypeError, match="events must be a list"):
            await client.webhooks.update("wh_x", events="photo_request.created")
        assert before == len(emulator.requests)

    @pytest.mark.parametrize("page", [0, -1, True])
    async def test_page_numbers_start_at_one(self, client: Any, emulator: Any, page: Any) -> None:
        """A page below 1 is a ValueError before any request."""
        before = len(emulator.requests)
        with pytest.raises(ValueError, match="page must be"):
            await client.photo_requests.list_page(page=page)
        assert before == len(emulator.requests)
