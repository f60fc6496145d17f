"""Authentication, scopes and the envelope every API answer shares."""

from __future__ import annotations

import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

# Explicit: the root conftest adds the mark after collection, which loses parametrize ids.
pytestmark = pytest.mark.anyio


class TestAuthentication:
    @pytest.mark.parametrize("key", [None, "vsk_test_" + "0" * 32], ids=["missing", "unknown"])
    async def test_missing_or_unknown_key_is_401(self, api: Api, key: str | None) -> None:
        """A request without a valid key gets 401 ``unauthenticated`` in the standard shape."""
        reply = await api.get("/photo-requests", key=key)

        assert reply.status == 401
        assert reply.body["error"]["code"] == "unauthenticated"
        assert reply.body["error"]["details"] == {}
        assert reply.body["meta"]["request_id"].startswith("req_")

    async def test_revoked_key_is_401(self, api: Api, emu: VisionoEmulator) -> None:
        """A revoked key stops working at once."""
        assert (await api.get("/photo-requests")).status == 200

        emu.revoke_api_key(api.key or "")

        assert (await api.get("/photo-requests")).status == 401

    async def test_the_key_is_never_echoed(self, api: Api, emu: VisionoEmulator) -> None:
        """Neither answers nor the request record contain the key."""
        bad = "vsk_test_" + "f" * 32
        reply = await api.get("/photo-requests", key=bad)

        assert bad.encode() not in reply.raw
        assert api.key not in repr(emu.requests)
        assert bad not in repr(emu.requests)

    async def test_keys_are_test_keys(self, emu: VisionoEmulator) -> None:
        """Keys look like ``vsk_test_`` and 32 hex digits, fresh every time."""
        first, second = emu.create_api_key(), emu.create_api_key()

        assert first != second
        assert first.startswith("vsk_test_")
        assert len(first) == len("vsk_test_") + 32
        int(first.removeprefix("vsk_test_"), 16)

    async def test_unknown_scope_or_plan_is_refused(self, emu: VisionoEmulator) -> None:
        """Typos in scopes or plans fail loudly."""
        with pytest.raises(ValueError, match="unknown scopes"):
            emu.create_api_key(["photo_request:read"])
        with pytest.raises(ValueError, match="unknown plan"):
            emu.create_api_key(plan="enterprise")

    async def test_status_needs_a_key_too(self, api: Api) -> None:
        """Visiono says every request needs a key: ``/status`` without one is 401."""
        assert 401 == (await api.get("/status", key=None)).status
        reply = await api.get("/status")

        assert reply.status == 200
        assert reply.data["status"] == "operational"
        assert reply.data["version"] == "v1"
        assert reply.data["time"].endswith("+00:00")


class TestScopes:
    async def test_missing_scope_is_403_naming_it(self, api: Api, emu: VisionoEmulator) -> None:
        """403 ``insufficient_scope`` names the scope in the message, details and field."""
        reader = api.with_key(emu.create_api_key(["photo_requests:read"]))

        reply = await reader.post("/webhooks", {"url": "https://example.com", "events": []})

        assert reply.status == 403
        assert reply.body["error"] == {
            "code": "insufficient_scope",
            "message": "This API key is missing the required scope: webhooks:write",
            "details": {"scope": ["webhooks:write"]},
            "required_scope": "webhooks:write",
        }

    @pytest.mark.parametrize(
        ("method", "path", "scope"),
        [
            ("GET", "/photo-requests", "photo_requests:read"),
            ("POST", "/photo-requests", "photo_requests:write"),
            ("POST", "/photo-requests/batch", "photo_requests:write"),
            ("GET", "/photo-requests/{id}", "photo_requests:read"),
            ("DELETE", "/photo-requests/{id}", "photo_requests:write"),
            ("GET", "/photo-requests/{id}/submissions", "submissions:read"),
            ("GET", "/photo-requests/{id}/download-urls", "download_urls:read"),
            ("GET", "/photo-requests/{id}/qrcode", "photo_requests:read"),
            ("GET", "/smart-links", "smart_links:read"),
            ("POST", "/smart-links", "smart_links:write"),
            ("GET", "/permanent-links", "smart_links:read"),
            ("GET", "/webhooks", "webhooks:read"),
            ("GET", "/webhooks/events", "webhooks:read"),
        ],
    )
    async def test_each_route_needs_its_scope(
        self, api: Api, emu: VisionoEmulator, method: str, path: str, scope: str
    ) -> None:
        """A key holding every scope but the route's one is refused with that scope named."""
        pr = await api.create()
        others = [s for s in _ALL_SCOPES if s != scope]
        limited = api.with_key(emu.create_api_key(others))

        reply = await limited.call(method, path.format(id=pr["id"]), json={})

        assert reply.status == 403
        assert reply.body["error"]["required_scope"] == scope

    async def test_stats_needs_only_a_valid_key(self, api: Api, emu: VisionoEmulator) -> None:
        """A key without any scope can read ``/stats``."""
        reply = await api.with_key(emu.create_api_key([])).get("/stats")

        assert reply.status == 200


_ALL_SCOPES = [
    "photo_requests:read",
    "photo_requests:write",
    "submissions:read",
    "download_urls:read",
    "smart_links:read",
    "smart_links:write",
    "webhooks:read",
    "webhooks:write",
]


class TestEnvelope:
    async def test_success_has_data_meta_and_request_id_header(self, api: Api) -> None:
        """``meta.request_id`` equals the ``X-Request-Id`` header."""
        reply = await api.get("/stats")

        assert set(reply.body) == {"data", "meta"}
        assert reply.body["meta"]["request_id"] == reply.headers["X-Request-Id"]

    async def test_old_base_url_style_answers_too(self, api: Api, emu: VisionoEmulator) -> None:
        """The API also answers under ``/v1`` (like ``https://api.visio.now/v1``)."""
        pr = await api.create()

        reply = await api.get(f"/photo-requests/{pr['id']}", base=emu.root_url + "/v1")

        assert reply.status == 200
        assert reply.data["id"] == pr["id"]
        assert emu.requests[-1].path == f"/photo-requests/{pr['id']}"

    async def test_unknown_route_is_404_in_the_standard_shape(self, api: Api) -> None:
        """Unknown API paths answer JSON, not an HTML page."""
        reply = await api.get("/no-such-thing")

        assert reply.status == 404
        assert reply.body["error"]["code"] == "not_found"

    async def test_wrong_method_is_405(self, api: Api) -> None:
        """A known path with an unsupported method names the allowed ones."""
        reply = await api.call("PATCH", "/photo-requests")

        assert reply.status == 405
        assert "GET" in reply.body["error"]["message"]

    @pytest.mark.parametrize(
        "raw", [b"{not json", b"[1, 2]", b'"text"'], ids=["malformed", "array", "string"]
    )
    async def test_a_body_that_is_not_a_json_object_is_400(self, api: Api, raw: bytes) -> None:
        """Malformed JSON and non-object bodies get 400 ``bad_request``."""
        reply = await api.call(
            "POST", "/photo-requests", data=raw, headers={"Content-Type": "application/json"}
        )

        assert reply.status == 400
        assert reply.body["error"]["code"] == "bad_request"
