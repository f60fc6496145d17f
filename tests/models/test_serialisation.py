"""``to_dict`` / ``to_json`` / ``from_dict``: models as the API's JSON, through the one converter."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from visiono_async import VisionoClient
from visiono_async.models import (
    Model,
    PhotoRequest,
    PhotoRequestStatus,
    SmartLink,
    Stats,
    WebhookEndpoint,
)
from visiono_async.testing import VisionoEmulator

WIRE = {
    "id": "pr_1",
    "status": "in_progress",
    "created_at": "2026-03-01T10:00:00+02:00",
    "expires_at": "2026-03-03T08:00:00Z",
    "metadata": {"ticket_id": "12345"},
    "items": [{"id": "pri_1", "instructions": "Front", "is_required": True, "future": [1]}],
    "a_field_from_the_future": {"nested": True},
}


class TestToDict:
    def test_datetimes_are_iso_8601_in_utc(self) -> None:
        """A +02:00 time from the API comes back as the same instant in UTC, ISO 8601."""
        data = PhotoRequest.from_dict(WIRE).to_dict()
        assert "2026-03-01T08:00:00+00:00" == data["created_at"]
        assert "2026-03-03T08:00:00+00:00" == data["expires_at"]
        assert datetime(2026, 3, 1, 8, tzinfo=timezone.utc) == datetime.fromisoformat(
            data["created_at"]
        )

    def test_enums_are_plain_wire_strings(self) -> None:
        """A known status is its value (a plain str); an unknown one stays as it came."""
        known = PhotoRequest.from_dict(WIRE)
        assert PhotoRequestStatus.IN_PROGRESS == known.status
        assert str is type(known.to_dict()["status"])
        assert "in_progress" == known.to_dict()["status"]
        unknown = PhotoRequest.from_dict({**WIRE, "status": "archived_by_vendor"})
        assert "archived_by_vendor" == unknown.to_dict()["status"]

    def test_unknown_keys_and_nested_models_keep_their_wire_names(self) -> None:
        """Keys the SDK does not know return at the top level; nested items become dicts."""
        data = PhotoRequest.from_dict(WIRE).to_dict()
        assert {"nested": True} == data["a_field_from_the_future"]
        assert "extra" not in data
        assert [{"id": "pri_1", "instructions": "Front", "is_required": True, "position": None,
                 "future": [1]}] == data["items"]  # fmt: skip
        assert {"ticket_id": "12345"} == data["metadata"]

    def test_round_trip_gives_the_model_back(self) -> None:
        """from_dict(to_dict(m)) == m, also through JSON text."""
        model = PhotoRequest.from_dict(WIRE)
        assert model == PhotoRequest.from_dict(model.to_dict())
        assert model == PhotoRequest.from_dict(json.loads(model.to_json()))

    def test_to_json_is_the_dict_encoded(self) -> None:
        """to_json() is valid JSON equal to to_dict(); indent= makes it readable."""
        model = PhotoRequest.from_dict(WIRE)
        assert model.to_dict() == json.loads(model.to_json())
        assert "\n  " in model.to_json(indent=2)
        assert "\n" not in model.to_json()

    def test_bad_data_names_the_field(self) -> None:
        """from_dict of data that does not fit raises ValueError naming the field."""
        with pytest.raises(ValueError, match="expires_at"):
            PhotoRequest.from_dict({"id": "pr_1", "expires_at": "soon"})
        with pytest.raises(ValueError, match="required field missing"):
            PhotoRequest.from_dict({"status": "pending"})


class TestModelsFromTheAPI:
    async def test_every_model_the_client_returns_serialises_and_round_trips(
        self, emulator: VisionoEmulator, client: VisionoClient
    ) -> None:
        """Photo requests, URLs, smart links, webhooks and stats: JSON, and back to equal."""
        pr = await client.photo_requests.create(
            instructions="Upload", items=[{"instructions": "Front"}], metadata={"k": "v"}
        )
        await emulator.simulate_submission(pr.id, size=2_000, gps=(45.46, 9.19))
        models: list[Model] = [
            await client.photo_requests.get(pr.id),
            await client.photo_requests.download_urls(pr.id),
            *(await client.photo_requests.submissions(pr.id)),
            await client.smart_links.create(instructions="x", tags=["a"]),
            await client.webhooks.create(
                url="http://127.0.0.1:9/hook", events=["photo_request.created"]
            ),
            await client.stats(),
        ]
        for model in models:
            data = json.loads(model.to_json())
            assert model == type(model).from_dict(data), type(model).__name__
        urls = models[1].to_dict()
        assert 45.46 == urls["submissions"][0]["gps_latitude"]
        assert urls["submissions"][0]["submitted_at"].endswith("+00:00")
        assert isinstance(models[3], SmartLink)
        assert isinstance(models[4], WebhookEndpoint)
        assert models[4].secret == models[4].to_dict()["secret"]  # asked for: it is data
        assert isinstance(models[5], Stats)
