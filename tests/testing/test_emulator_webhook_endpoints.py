"""``/webhooks``: endpoint management; the secret is shown exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.anyio

EVENTS = [
    "photo_request.created",
    "photo_request.first_viewed",
    "photo_submission.created",
    "photo_request.submitted",
    "photo_request.expired",
    "submission.created",
]


async def create_endpoint(api: Api, **fields: Any) -> dict[str, Any]:
    """Register an endpoint (https URL and one event by default)."""
    fields.setdefault("url", "https://hooks.example.com/visiono")
    fields.setdefault("events", ["photo_request.submitted"])
    reply = await api.post("/webhooks", fields)
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.data
    return result


class TestCreate:
    async def test_secret_is_shown_only_on_create(self, api: Api) -> None:
        """``whsec_`` + 32 hex on create; absent from get and list."""
        endpoint = await create_endpoint(api, description="orders")

        fetched = (await api.get(f"/webhooks/{endpoint['id']}")).data
        listed = (await api.get("/webhooks")).data

        assert endpoint["id"].startswith("wh_")
        assert endpoint["secret"].startswith("whsec_")
        assert len(endpoint["secret"]) == len("whsec_") + 32
        assert endpoint["is_active"] is True
        assert endpoint["description"] == "orders"
        assert "secret" not in fetched
        assert all("secret" not in e for e in listed)
        assert fetched["events"] == ["photo_request.submitted"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"events": EVENTS}, "url"),
            ({"url": "ftp://example.com", "events": EVENTS}, "url"),
            ({"url": "http://example.com/hook", "events": EVENTS}, "url"),
            ({"url": "https://example.com"}, "events"),
            ({"url": "https://example.com", "events": []}, "events"),
            ({"url": "https://example.com", "events": ["photo.deleted"]}, "events.0"),
        ],
        ids=["no-url", "ftp", "plain-http", "no-events", "empty-events", "unknown-event"],
    )
    async def test_invalid_bodies_are_422(self, api: Api, body: dict[str, Any], field: str) -> None:
        """URLs must be https (except loopback), events a non-empty known subset."""
        reply = await api.post("/webhooks", body)

        assert reply.status == 422
        assert field in reply.body["error"]["details"]

    @pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
    async def test_plain_http_is_fine_on_loopback(self, api: Api, host: str) -> None:
        """Local receivers need no TLS."""
        await create_endpoint(api, url=f"http://{host}/hook")

    async def test_plain_http_loopback_can_be_forbidden(self, http: Any) -> None:
        """``allow_http_webhooks=False`` demands https everywhere."""
        async with VisionoEmulator(allow_http_webhooks=False) as emu:
            api = Api(http, emu, emu.create_api_key())
            reply = await api.post("/webhooks", {"url": "http://127.0.0.1/h", "events": EVENTS})

        assert reply.status == 422


class TestManage:
    async def test_patch_changes_fields(self, api: Api) -> None:
        """url, events, is_active and description can change."""
        endpoint = await create_endpoint(api)

        reply = await api.call(
            "PATCH",
            f"/webhooks/{endpoint['id']}",
            json={"events": EVENTS[:2], "is_active": False, "description": "paused"},
        )

        assert reply.status == 200
        assert reply.data["events"] == EVENTS[:2]
        assert reply.data["is_active"] is False
        assert reply.data["description"] == "paused"
        assert reply.data["url"] == endpoint["url"]
        assert "secret" not in reply.data

    async def test_delete(self, api: Api) -> None:
        """DELETE answers ``deleted: true``; the endpoint is gone."""
        endpoint = await create_endpoint(api)

        reply = await api.call("DELETE", f"/webhooks/{endpoint['id']}")

        assert reply.data == {"id": endpoint["id"], "deleted": True}
        assert (await api.get(f"/webhooks/{endpoint['id']}")).status == 404

    async def test_events_lists_the_documented_events(self, api: Api) -> None:
        """The five documented events and Workflow Mode's, each with a description."""
        reply = await api.get("/webhooks/events")

        assert [e["name"] for e in reply.data] == EVENTS
        assert all(e["description"] for e in reply.data)

    async def test_list_is_paginated_newest_first(self, api: Api) -> None:
        """The list has page meta like every list."""
        first = await create_endpoint(api)
        second = await create_endpoint(api)

        reply = await api.get("/webhooks")

        assert [e["id"] for e in reply.data] == [second["id"], first["id"]]
        assert reply.body["meta"]["total"] == 2
