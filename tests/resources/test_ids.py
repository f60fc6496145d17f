"""Identifiers are checked before any request, and nothing is sent for a bad one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visiono_async import NotFoundError, VisionoClient
from visiono_async._ids import validate_id

BAD_IDS = {
    "empty": "",
    "space": "pr 1",
    "only-space": "   ",
    "tab": "pr_1\t",
    "newline": "pr_1\n",
    "nul": "pr\x001",
    "escape": "pr\x1b1",
    "zero-width": "pr\u200b1",
    "slash": "pr_1/cancel",
    "backslash": "pr_1\\x",
    "question": "pr_1?status=x",
    "hash": "pr_1#x",
    "dot-dot": "..",
    "traversal": "../webhooks",
    "dot": ".",
    "too-long": "p" * 257,
}


class TestValidateId:
    """``validate_id`` refuses what could change the URL, and quotes the rest."""

    @pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
    def test_refused_with_the_parameter_name(self, value: str) -> None:
        """The error names the parameter so the caller knows which argument was wrong."""
        with pytest.raises(ValueError, match=r"^photo_request_id "):
            validate_id(value, name="photo_request_id")

    def test_not_a_string(self) -> None:
        """An int is a TypeError naming the parameter."""
        with pytest.raises(TypeError, match="webhook_id must be a str"):
            validate_id(12, name="webhook_id")  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", ["pr_1", "ABC123", "809530", "fleet-inspection", "a.b"])
    def test_ordinary_ids_are_unchanged(self, value: str) -> None:
        """Ids, codes and slugs pass through as they are."""
        assert value == validate_id(value, name="id")

    def test_unusual_characters_are_quoted(self) -> None:
        """Percent signs and non-ASCII letters are percent-encoded, not refused."""
        assert "a%25b%C3%A9" == validate_id("a%bé", name="id")

    @given(st.text(min_size=1, max_size=40))
    def test_never_yields_a_separator(self, value: str) -> None:
        """Whatever is accepted becomes one path segment without ``/``, ``?`` or ``#``."""
        try:
            quoted = validate_id(value, name="id")
        except ValueError:
            return
        assert not {"/", "?", "#", " "} & set(quoted)


Call = Callable[[VisionoClient, str], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "photo_requests.get": lambda c, i: c.photo_requests.get(i),
    "photo_requests.cancel": lambda c, i: c.photo_requests.cancel(i),
    "photo_requests.submissions": lambda c, i: c.photo_requests.submissions(i),
    "photo_requests.download_urls": lambda c, i: c.photo_requests.download_urls(i),
    "photo_requests.qrcode": lambda c, i: c.photo_requests.qrcode(i),
    "smart_links.get": lambda c, i: c.smart_links.get(i),
    "smart_links.update": lambda c, i: c.smart_links.update(i, instructions="x"),
    "smart_links.archive": lambda c, i: c.smart_links.archive(i),
    "smart_links.submissions": lambda c, i: c.smart_links.submissions(i),
    "smart_links.download_urls": lambda c, i: c.smart_links.download_urls(i),
    "smart_links.qrcode": lambda c, i: c.smart_links.qrcode(i),
    "permanent_links.get": lambda c, i: c.permanent_links.get(i),
    "permanent_links.update": lambda c, i: c.permanent_links.update(i, name="x"),
    "permanent_links.delete": lambda c, i: c.permanent_links.delete(i),
    "webhooks.get": lambda c, i: c.webhooks.get(i),
    "webhooks.update": lambda c, i: c.webhooks.update(i, description="x"),
    "webhooks.delete": lambda c, i: c.webhooks.delete(i),
    "webhooks.test": lambda c, i: c.webhooks.test(i),
}


class TestResourcesValidateIds:
    """Every method taking an id refuses a bad one before sending anything."""

    @pytest.mark.parametrize("invoke", list(CALLS.values()), ids=list(CALLS))
    @pytest.mark.parametrize("bad", ["", "../webhooks", "pr_1?x=1", "pr 1"], ids=repr)
    async def test_no_request_is_sent(
        self, client: VisionoClient, emulator: Any, invoke: Call, bad: str
    ) -> None:
        """A ``ValueError`` and an empty request log."""
        with pytest.raises(ValueError, match=r"_id|id_or_code"):
            await invoke(client, bad)
        assert 0 == len(emulator.requests)

    async def test_quoted_ids_reach_the_server_as_one_segment(self, client: VisionoClient) -> None:
        """An odd but harmless id is sent quoted and simply not found."""
        with pytest.raises(NotFoundError):
            await client.photo_requests.get("pr_%2Fwebhooks")
