"""What goes over the wire: bodies, methods and headers, seen by a recording server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from visiono_async import VisionoClient
from visiono_async.resources import CLIENT_REF


@attrs.frozen
class Seen:
    """One request as the recording server received it."""

    method: str
    path: str
    body: Any
    idempotency_key: str | None


@pytest.fixture
async def seen_client() -> AsyncIterator[tuple[VisionoClient, list[Seen]]]:
    """A client bound to a loopback server that records requests and answers ``{"id": ...}``."""
    seen: list[Seen] = []

    async def record(request: web.Request) -> web.Response:
        body: Any = await request.json() if request.can_read_body else None
        key = request.headers.get("Idempotency-Key")
        seen.append(Seen(request.method, request.path.removeprefix("/v1"), body, key))
        if request.path.endswith("/batch"):
            return web.json_response(
                {"data": [{"id": f"pr_{n}"} for n in range(len(body["requests"]))]}
            )
        return web.json_response({"data": {"id": "x_1"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with VisionoClient(
            api_key="vsk_test_recorder", base_url=f"http://127.0.0.1:{port}/v1", rate_limit=None
        ) as client:
            yield client, seen
    finally:
        await runner.cleanup()


class TestCreateBodies:
    """``create`` sends only the options given, plus extra keyword arguments as they are."""

    async def test_only_given_options(self, seen_client: tuple[VisionoClient, list[Seen]]) -> None:
        """Options left at None are not sent at all; the SDK's reference always is, in
        ``metadata`` and as the ``Idempotency-Key``."""
        client, seen = seen_client
        await client.photo_requests.create(instructions="Upload your ID")
        [sent] = seen
        ref = sent.body["metadata"][CLIENT_REF]
        assert ref.startswith("vsdk_")
        expected = {"instructions": "Upload your ID", "metadata": {CLIENT_REF: ref}}
        assert Seen("POST", "/photo-requests", expected, ref) == sent

    async def test_every_option_and_extras(
        self, seen_client: tuple[VisionoClient, list[Seen]]
    ) -> None:
        """Every documented option by its wire name; False is sent, unknown options too."""
        client, seen = seen_client
        await client.photo_requests.create(
            instructions="x",
            items=({"instructions": "Front", "is_required": True},),
            recipient_email="user@example.com",
            send_email=False,
            expires_in_hours=48,
            require_gps=True,
            allow_submitter_notes=False,
            internal_notes="n",
            metadata={"ticket_id": "1"},
            idempotency_key="idem-1",
            brand_new_option={"a": 1},
        )
        expected = {
            "instructions": "x",
            "items": [{"instructions": "Front", "is_required": True}],
            "recipient_email": "user@example.com",
            "send_email": False,
            "expires_in_hours": 48,
            "require_gps": True,
            "allow_submitter_notes": False,
            "internal_notes": "n",
            "metadata": {"ticket_id": "1", CLIENT_REF: "idem-1"},
            "brand_new_option": {"a": 1},
        }
        assert [Seen("POST", "/photo-requests", expected, "idem-1")] == seen

    async def test_smart_link_options(self, seen_client: tuple[VisionoClient, list[Seen]]) -> None:
        """Smart link options as in the vendor's docs; tags as a list."""
        client, seen = seen_client
        await client.smart_links.create(
            instructions="Vehicle inspection photos",
            custom_slug="fleet-inspection",
            unique_field_label="License Plate",
            show_full_name_field=True,
            tags=("fleet", "inspection"),
        )
        expected = {
            "instructions": "Vehicle inspection photos",
            "custom_slug": "fleet-inspection",
            "unique_field_label": "License Plate",
            "show_full_name_field": True,
            "tags": ["fleet", "inspection"],
        }
        assert [Seen("POST", "/smart-links", expected, None)] == seen

    async def test_permanent_link_options(
        self, seen_client: tuple[VisionoClient, list[Seen]]
    ) -> None:
        """Permanent links use the older vocabulary: ``name`` and ``slug``."""
        client, seen = seen_client
        await client.permanent_links.create(name="Check-in", slug="check-in")
        expected = {"name": "Check-in", "slug": "check-in"}
        assert [Seen("POST", "/permanent-links", expected, None)] == seen

    async def test_webhook_options(self, seen_client: tuple[VisionoClient, list[Seen]]) -> None:
        """``events`` may be any iterable of names; it is sent as a list."""
        client, seen = seen_client
        await client.webhooks.create(
            url="https://example.com/hook", events=(e for e in ["photo_request.submitted"])
        )
        expected = {"url": "https://example.com/hook", "events": ["photo_request.submitted"]}
        [sent] = seen
        assert sent.idempotency_key is not None  # always sent (see test_safe_creates)
        assert Seen("POST", "/webhooks", expected, sent.idempotency_key) == sent

    async def test_webhook_events_must_not_be_one_string(
        self, seen_client: tuple[VisionoClient, list[Seen]]
    ) -> None:
        """A single string would be sent letter by letter; it is refused."""
        client, seen = seen_client
        with pytest.raises(TypeError, match="events"):
            await client.webhooks.create(url="https://example.com", events="photo_request.created")
        assert [] == seen


class TestUpdateBodies:
    """``update`` sends exactly the fields given, with the documented method."""

    @pytest.mark.parametrize(
        ("resource", "method", "path"),
        [
            ("smart_links", "PUT", "/smart-links/id_1"),
            ("permanent_links", "PATCH", "/permanent-links/id_1"),
            ("webhooks", "PATCH", "/webhooks/id_1"),
        ],
        ids=["smart_links", "permanent_links", "webhooks"],
    )
    async def test_exact_fields(
        self,
        seen_client: tuple[VisionoClient, list[Seen]],
        resource: str,
        method: str,
        path: str,
    ) -> None:
        """None is sent as null: it is how a field is cleared."""
        client, seen = seen_client
        await getattr(client, resource).update("id_1", is_active=False, description=None)
        assert [Seen(method, path, {"is_active": False, "description": None}, None)] == seen

    @pytest.mark.parametrize("resource", ["smart_links", "permanent_links", "webhooks"])
    async def test_nothing_to_change(
        self, seen_client: tuple[VisionoClient, list[Seen]], resource: str
    ) -> None:
        """An update without fields is refused before sending."""
        client, seen = seen_client
        with pytest.raises(ValueError, match="at least one field"):
            await getattr(client, resource).update("id_1")
        assert [] == seen


class TestCreateManyBodies:
    """``create_many`` sends ``{"requests": [...]}`` batches with per-batch keys."""

    async def test_batches_and_keys(self, seen_client: tuple[VisionoClient, list[Seen]]) -> None:
        """23 specs: batches of 10, 10 and 3, keyed ``prefix-0`` to ``prefix-2``; each spec
        carries the SDK's reference ``{key}-{index}`` in its metadata."""
        client, seen = seen_client
        specs = [{"instructions": str(n)} for n in range(23)]
        await client.photo_requests.create_many(specs, idempotency_key_prefix="job", concurrency=1)

        def sent(key: str, batch: list[dict[str, str]]) -> Seen:
            refs = [
                {**spec, "metadata": {CLIENT_REF: f"{key}-{i}"}} for i, spec in enumerate(batch)
            ]
            return Seen("POST", "/photo-requests/batch", {"requests": refs}, key)

        expected = [
            sent("job-0", specs[:10]),
            sent("job-1", specs[10:20]),
            sent("job-2", specs[20:]),
        ]
        assert expected == seen
