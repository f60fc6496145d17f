"""``/photo-requests``: create, validate, batch, get, list, cancel and the life cycle."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.anyio

FREE_PLAN_MESSAGE = (
    "Email features are not available on the free plan. Upgrade to send photo requests via email."
)


class TestCreate:
    async def test_returns_201_with_the_full_object(self, api: Api, emu: VisionoEmulator) -> None:
        """Every documented field is present, with defaults filled in."""
        reply = await api.post(
            "/photo-requests",
            {"instructions": "Upload your ID", "metadata": {"ticket_id": "12345"}},
        )

        assert reply.status == 201
        pr = reply.data
        assert pr["id"].startswith("pr_")
        assert pr["status"] == "pending"
        assert pr["instructions"] == "Upload your ID"
        assert pr["metadata"] == {"ticket_id": "12345"}
        assert len(pr["unique_code"]) == 6
        assert pr["unique_code"].isalnum()
        assert pr["unique_code"] == pr["unique_code"].upper()
        assert len(pr["numeric_code"]) == 6
        assert pr["numeric_code"].isdigit()
        assert pr["request_url"] == f"{emu.root_url}/r/{pr['unique_code']}"
        assert pr["code_entry_url"].startswith(emu.root_url)
        assert pr["created_at"].endswith("+00:00")
        assert [item["instructions"] for item in pr["items"]] == ["Photo"]
        assert pr["items"][0]["id"].startswith("pri_")
        assert pr["items"][0]["is_required"] is True
        assert pr["submissions_count"] == 0
        assert pr["submitted_at"] is None
        assert pr["viewed_at"] is None
        assert pr["recipient_email"] is None

    async def test_expires_after_the_requested_hours(self, api: Api) -> None:
        """``expires_in_hours`` (default 48) sets ``expires_at``."""
        from datetime import datetime

        default = await api.create()
        short = await api.create(expires_in_hours=2)

        def hours(pr: dict[str, Any]) -> float:
            created = datetime.fromisoformat(pr["created_at"])
            return (datetime.fromisoformat(pr["expires_at"]) - created).total_seconds() / 3600

        assert hours(default) == 48
        assert hours(short) == 2

    async def test_items_keep_their_order_and_flags(self, api: Api) -> None:
        """Items are created in order; ``is_required`` defaults to true."""
        pr = await api.create(
            items=[
                {"instructions": "Front of ID"},
                {"instructions": "Back of ID", "is_required": False},
            ]
        )

        assert [(i["instructions"], i["is_required"]) for i in pr["items"]] == [
            ("Front of ID", True),
            ("Back of ID", False),
        ]

    async def test_unknown_fields_are_ignored(self, api: Api) -> None:
        """Fields the API does not know do not fail the request."""
        reply = await api.post("/photo-requests", {"instructions": "x", "colour": "blue"})

        assert reply.status == 201

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "instructions"),
            ({"instructions": "   "}, "instructions"),
            ({"instructions": 5}, "instructions"),
            ({"instructions": "x" * 2001}, "instructions"),
            ({"instructions": "x", "expires_in_hours": 0}, "expires_in_hours"),
            ({"instructions": "x", "expires_in_hours": 721}, "expires_in_hours"),
            ({"instructions": "x", "expires_in_hours": "48"}, "expires_in_hours"),
            ({"instructions": "x", "expires_in_hours": True}, "expires_in_hours"),
            ({"instructions": "x", "recipient_email": "not-an-email"}, "recipient_email"),
            ({"instructions": "x", "send_email": "yes"}, "send_email"),
            ({"instructions": "x", "require_gps": 1}, "require_gps"),
            ({"instructions": "x", "metadata": [1]}, "metadata"),
            ({"instructions": "x", "metadata": {str(i): i for i in range(51)}}, "metadata"),
            ({"instructions": "x", "items": []}, "items"),
            ({"instructions": "x", "items": "front"}, "items"),
            ({"instructions": "x", "items": [{"instructions": "a"}] * 21}, "items"),
            ({"instructions": "x", "items": [{"is_required": True}]}, "items.0.instructions"),
            ({"instructions": "x", "items": ["front"]}, "items.0"),
            ({"instructions": "x", "send_email": True}, "recipient_email"),
        ],
        ids=lambda value: value if isinstance(value, str) else None,
    )
    async def test_invalid_bodies_get_422_naming_the_field(
        self, api: Api, body: dict[str, Any], field: str
    ) -> None:
        """A 422 ``validation_error`` lists the offending field in ``details``."""
        reply = await api.post("/photo-requests", body)

        assert reply.status == 422
        assert reply.body["error"]["code"] == "validation_error"
        assert field in reply.body["error"]["details"]
        assert all(isinstance(m, str) for m in reply.body["error"]["details"][field])

    async def test_every_bad_field_is_reported_at_once(self, api: Api) -> None:
        """One 422 names all problems."""
        reply = await api.post("/photo-requests", {"expires_in_hours": 0, "metadata": "x"})

        assert set(reply.body["error"]["details"]) == {
            "instructions",
            "expires_in_hours",
            "metadata",
        }

    async def test_email_is_sent_when_asked_on_a_paid_plan(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """``send_email`` records an email in ``emu.sent_emails``."""
        pr = await api.create(recipient_email="user@example.com", send_email=True)
        await api.create(recipient_email="quiet@example.com")

        assert emu.sent_emails == [{"photo_request_id": pr["id"], "to": "user@example.com"}]
        assert pr["recipient_email"] == "user@example.com"


class TestFreePlan:
    @pytest.mark.parametrize(
        ("extra", "message", "fields"),
        [
            (
                {"recipient_email": "a@example.com"},
                "The recipient email field is prohibited.",
                ["recipient_email"],
            ),
            ({"send_email": True}, "The send email field is prohibited.", ["send_email"]),
            (
                {"recipient_email": "a@example.com", "send_email": True},
                "The recipient email field is prohibited. (and 1 more error)",
                ["recipient_email", "send_email"],
            ),
        ],
        ids=["recipient_email", "send_email", "both"],
    )
    async def test_email_fields_get_the_framework_422(
        self,
        api: Api,
        emu: VisionoEmulator,
        extra: dict[str, Any],
        message: str,
        fields: list[str],
    ) -> None:
        """The free plan answers the documented ``{"message", "errors"}`` shape."""
        free = api.with_key(emu.create_api_key(plan="free"))

        reply = await free.post("/photo-requests", {"instructions": "x", **extra})

        assert reply.status == 422
        assert reply.body == {
            "message": message,
            "errors": {field: [FREE_PLAN_MESSAGE] for field in fields},
        }
        assert emu.sent_emails == []

    async def test_requests_without_email_work(self, api: Api, emu: VisionoEmulator) -> None:
        """The free plan can create requests and share ``request_url`` itself."""
        free = api.with_key(emu.create_api_key(plan="free"))

        reply = await free.post("/photo-requests", {"instructions": "x", "send_email": False})

        assert reply.status == 201

    async def test_batch_names_the_offending_entry(self, api: Api, emu: VisionoEmulator) -> None:
        """In a batch the framework errors are keyed ``requests.N.field``."""
        free = api.with_key(emu.create_api_key(plan="free"))
        specs = [{"instructions": "a"}, {"instructions": "b", "recipient_email": "b@example.com"}]

        reply = await free.post("/photo-requests/batch", {"requests": specs})

        assert reply.status == 422
        assert reply.body["errors"] == {"requests.1.recipient_email": [FREE_PLAN_MESSAGE]}

    async def test_stats_report_a_lifetime_quota_without_email(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """Free: ``email_enabled`` false, lifetime quota, no billing period."""
        free = api.with_key(emu.create_api_key(plan="free"))
        await free.create()

        stats = (await free.get("/stats")).data

        assert stats["plan"]["name"] == "free"
        assert stats["plan"]["email_enabled"] is False
        assert stats["usage"]["is_lifetime_quota"] is True
        assert stats["usage"]["billing_period_start"] is None
        assert stats["usage"]["billing_period_end"] is None
        assert stats["usage"]["photo_requests_created"] == 1

    async def test_paid_stats_have_a_billing_period(self, api: Api, emu: VisionoEmulator) -> None:
        """Pro: email enabled, monthly period, usage counts photos and the rate limits."""
        pr = await api.create()
        await emu.simulate_submission(pr["id"])

        stats = (await api.get("/stats")).data

        assert stats["plan"]["email_enabled"] is True
        assert stats["usage"]["is_lifetime_quota"] is False
        assert stats["usage"]["billing_period_start"].endswith("+00:00")
        assert stats["usage"]["photos_used"] == 1
        assert stats["rate_limit"] == {"per_minute": 10_000, "per_hour": 100_000}


class TestBatch:
    async def test_creates_all_in_input_order(self, api: Api) -> None:
        """201 with one request per spec, in the order given."""
        specs = [{"instructions": f"request {i}"} for i in range(10)]

        reply = await api.post("/photo-requests/batch", {"requests": specs})

        assert reply.status == 201
        assert [pr["instructions"] for pr in reply.data] == [s["instructions"] for s in specs]

    @pytest.mark.parametrize("size", [0, 11])
    async def test_needs_one_to_ten_requests(self, api: Api, size: int) -> None:
        """Empty and oversized batches are refused on the ``requests`` field."""
        specs = [{"instructions": "x"}] * size

        reply = await api.post("/photo-requests/batch", {"requests": specs})

        assert reply.status == 422
        assert "requests" in reply.body["error"]["details"]

    async def test_one_bad_spec_creates_nothing(self, api: Api) -> None:
        """Everything is validated before anything is created."""
        specs = [{"instructions": "ok"}, {"instructions": "ok"}, {}, {"instructions": ""}]

        reply = await api.post("/photo-requests/batch", {"requests": specs})

        assert reply.status == 422
        assert set(reply.body["error"]["details"]) == {
            "requests.2.instructions",
            "requests.3.instructions",
        }
        assert (await api.get("/photo-requests")).body["meta"]["total"] == 0


class TestGet:
    async def test_by_id_unique_code_or_numeric_code(self, api: Api) -> None:
        """All three identifiers find the same request; codes ignore case."""
        pr = await api.create()

        for ident in (pr["id"], pr["unique_code"], pr["unique_code"].lower(), pr["numeric_code"]):
            reply = await api.get(f"/photo-requests/{ident}")
            assert reply.status == 200
            assert reply.data["id"] == pr["id"]

    async def test_unknown_is_404(self, api: Api) -> None:
        """404 ``not_found`` in the standard shape."""
        reply = await api.get("/photo-requests/pr_missing")

        assert reply.status == 404
        assert reply.body["error"]["code"] == "not_found"
        assert "pr_missing" in reply.body["error"]["message"]


class TestIdempotency:
    async def test_same_key_replays_the_first_response(self, api: Api) -> None:
        """The retry gets the same status and body and creates nothing new."""
        headers = {"Idempotency-Key": "create-1"}
        first = await api.post("/photo-requests", {"instructions": "x"}, headers=headers)
        again = await api.post("/photo-requests", {"instructions": "x"}, headers=headers)

        assert again.status == first.status == 201
        assert again.raw == first.raw
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (await api.get("/photo-requests")).body["meta"]["total"] == 1

    async def test_same_key_with_another_body_is_422(self, api: Api) -> None:
        """Reusing a key for a different request is refused."""
        headers = {"Idempotency-Key": "create-1"}
        await api.post("/photo-requests", {"instructions": "x"}, headers=headers)

        reply = await api.post("/photo-requests", {"instructions": "y"}, headers=headers)

        assert reply.status == 422
        assert reply.body["error"]["code"] == "idempotency_key_reused"

    async def test_keys_are_scoped_per_api_key(self, api: Api, emu: VisionoEmulator) -> None:
        """Two API keys using the same idempotency key create two requests."""
        headers = {"Idempotency-Key": "same"}
        other = api.with_key(emu.create_api_key())
        await api.post("/photo-requests", {"instructions": "x"}, headers=headers)
        await other.post("/photo-requests", {"instructions": "x"}, headers=headers)

        assert (await api.get("/photo-requests")).body["meta"]["total"] == 2

    async def test_expires_after_24_hours(self, api: Api, emu: VisionoEmulator) -> None:
        """After a day on the emulator clock the key acts again."""
        headers = {"Idempotency-Key": "daily"}
        await api.post(
            "/photo-requests", {"instructions": "x", "expires_in_hours": 720}, headers=headers
        )
        emu.advance_time(24 * 3600 + 1)

        reply = await api.post(
            "/photo-requests", {"instructions": "x", "expires_in_hours": 720}, headers=headers
        )

        assert "Idempotent-Replayed" not in reply.headers
        assert (await api.get("/photo-requests")).body["meta"]["total"] == 2

    async def test_json_formatting_does_not_matter(self, api: Api) -> None:
        """The same JSON value with other whitespace or key order is the same request."""
        headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
        await api.call(
            "POST",
            "/photo-requests",
            data=b'{"instructions":"x","require_gps":true}',
            headers=headers,
        )

        reply = await api.call(
            "POST",
            "/photo-requests",
            data=b'{ "require_gps": true, "instructions": "x" }',
            headers=headers,
        )

        assert reply.headers["Idempotent-Replayed"] == "true"


class TestList:
    async def test_pages_newest_first_with_meta_and_links(self, api: Api) -> None:
        """Walking ``links.next`` visits every request once, newest first."""
        created = [(await api.create(instructions=f"n{i}"))["id"] for i in range(7)]

        first = await api.get("/photo-requests", params={"per_page": "3"})
        assert first.body["meta"] == {
            "current_page": 1,
            "last_page": 3,
            "per_page": 3,
            "total": 7,
            "request_id": first.headers["X-Request-Id"],
        }
        assert first.body["links"]["prev"] is None

        seen: list[str] = []
        reply = first
        while True:
            seen += [pr["id"] for pr in reply.data]
            next_url = reply.body["links"]["next"]
            if next_url is None:
                break
            async with api.http.get(next_url, headers={"X-API-Key": api.key or ""}) as resp:
                body = await resp.json()
            reply = type(reply)(resp.status, resp.headers, body, b"")
            assert reply.body["links"]["prev"] is not None

        assert seen == created[::-1]
        assert reply.body["meta"]["current_page"] == 3

    async def test_default_page_size_is_15(self, api: Api) -> None:
        """Without ``per_page`` a page holds 15."""
        reply = await api.get("/photo-requests")

        assert reply.body["meta"]["per_page"] == 15
        assert reply.body["meta"]["last_page"] == 1
        assert reply.body["links"] == {"next": None, "prev": None}

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"per_page": "0"}, "per_page"),
            ({"per_page": "101"}, "per_page"),
            ({"per_page": "ten"}, "per_page"),
            ({"page": "0"}, "page"),
            ({"status": "done"}, "status"),
            ({"created_after": "yesterday"}, "created_after"),
            ({"created_before": "2026-13-01"}, "created_before"),
        ],
    )
    async def test_bad_query_values_are_422(
        self, api: Api, params: dict[str, str], field: str
    ) -> None:
        """Invalid paging or filter values name the parameter."""
        reply = await api.get("/photo-requests", params=params)

        assert reply.status == 422
        assert field in reply.body["error"]["details"]

    async def test_filters_by_status(self, api: Api, emu: VisionoEmulator) -> None:
        """``status`` keeps only requests in that state."""
        done = await api.create()
        await api.create()
        await emu.simulate_submission(done["id"])

        reply = await api.get("/photo-requests", params={"status": "submitted"})

        assert [pr["id"] for pr in reply.data] == [done["id"]]

    async def test_filters_by_creation_time(self, api: Api, emu: VisionoEmulator) -> None:
        """``created_after`` is inclusive, ``created_before`` exclusive; ``Z`` works."""
        old = await api.create()
        emu.advance_time(3600)
        new = await api.create()
        boundary = new["created_at"]

        after = await api.get("/photo-requests", params={"created_after": boundary})
        before = await api.get(
            "/photo-requests", params={"created_before": boundary.replace("+00:00", "Z")}
        )

        assert [pr["id"] for pr in after.data] == [new["id"]]
        assert [pr["id"] for pr in before.data] == [old["id"]]


class TestLifeCycle:
    async def test_pending_in_progress_submitted(self, api: Api, emu: VisionoEmulator) -> None:
        """First photo -> in_progress; every required item done -> submitted."""
        pr = await api.create(
            items=[
                {"instructions": "front"},
                {"instructions": "back"},
                {"instructions": "extra", "is_required": False},
            ]
        )
        front, back, extra = (item["id"] for item in pr["items"])

        await emu.simulate_submission(pr["id"], front)
        middle = (await api.get(f"/photo-requests/{pr['id']}")).data
        await emu.simulate_submission(pr["id"], back)
        done = (await api.get(f"/photo-requests/{pr['id']}")).data

        assert middle["status"] == "in_progress"
        assert middle["submitted_at"] is None
        assert done["status"] == "submitted"
        assert done["submitted_at"] is not None
        assert done["submissions_count"] == 2

        await emu.simulate_submission(pr["id"], extra)
        with pytest.raises(ValueError, match="already has a photo"):
            await emu.simulate_submission(pr["id"])

    async def test_an_item_takes_one_photo(self, api: Api, emu: VisionoEmulator) -> None:
        """A second photo for the same item is refused."""
        pr = await api.create(items=[{"instructions": "a"}, {"instructions": "b"}])
        item = pr["items"][0]["id"]
        await emu.simulate_submission(pr["id"], item)

        with pytest.raises(ValueError, match="already has a photo"):
            await emu.simulate_submission(pr["id"], item)

    async def test_unknown_request_or_item_is_refused(self, api: Api, emu: VisionoEmulator) -> None:
        """Clear errors for ids that do not exist."""
        pr = await api.create()

        with pytest.raises(ValueError, match="no photo request"):
            await emu.simulate_submission("pr_nope")
        with pytest.raises(ValueError, match="has no item"):
            await emu.simulate_submission(pr["id"], "pri_nope")

    async def test_require_gps_needs_coordinates(self, api: Api, emu: VisionoEmulator) -> None:
        """A GPS-requiring request refuses a photo without coordinates."""
        pr = await api.create(require_gps=True)

        with pytest.raises(ValueError, match="require_gps"):
            await emu.simulate_submission(pr["id"])
        sub = await emu.simulate_submission(pr["id"], gps=(45.4642, 9.19))

        assert (sub["gps_latitude"], sub["gps_longitude"]) == (45.4642, 9.19)

    async def test_view_sets_viewed_at_once(self, api: Api, emu: VisionoEmulator) -> None:
        """The first view is kept."""
        pr = await api.create()
        await emu.simulate_view(pr["id"])
        first = (await api.get(f"/photo-requests/{pr['id']}")).data["viewed_at"]
        emu.advance_time(60)
        await emu.simulate_view(pr["unique_code"])

        assert first is not None
        assert (await api.get(f"/photo-requests/{pr['id']}")).data["viewed_at"] == first

    async def test_expires_when_the_clock_passes_expires_at(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """advance_time past ``expires_at`` expires open requests, not finished ones."""
        open_pr = await api.create(expires_in_hours=1)
        done = await api.create(expires_in_hours=1)
        await emu.simulate_submission(done["id"])

        emu.advance_time(3599)
        assert (await api.get(f"/photo-requests/{open_pr['id']}")).data["status"] == "pending"
        emu.advance_time(2)

        assert (await api.get(f"/photo-requests/{open_pr['id']}")).data["status"] == "expired"
        assert (await api.get(f"/photo-requests/{done['id']}")).data["status"] == "submitted"
        with pytest.raises(ValueError, match="expired"):
            await emu.simulate_submission(open_pr["id"])

    async def test_cancel_then_cancel_again(self, api: Api, emu: VisionoEmulator) -> None:
        """DELETE cancels (200 with the object); a second DELETE is 422 ``invalid_state``."""
        pr = await api.create()

        first = await api.call("DELETE", f"/photo-requests/{pr['id']}")
        second = await api.call("DELETE", f"/photo-requests/{pr['id']}")

        assert first.status == 200
        assert first.data["status"] == "cancelled"
        assert second.status == 422
        assert second.body["error"]["code"] == "invalid_state"
        with pytest.raises(ValueError, match="cancelled"):
            await emu.simulate_submission(pr["id"])

    @pytest.mark.parametrize("state", ["submitted", "expired"])
    async def test_finished_requests_cannot_be_cancelled(
        self, api: Api, emu: VisionoEmulator, state: str
    ) -> None:
        """Submitted and expired requests stay as they are."""
        pr = await api.create(expires_in_hours=1)
        if state == "submitted":
            await emu.simulate_submission(pr["id"])
        else:
            emu.advance_time(7200)

        reply = await api.call("DELETE", f"/photo-requests/{pr['id']}")

        assert reply.status == 422
        assert reply.body["error"]["code"] == "invalid_state"


class TestSubmissions:
    async def test_lists_uploads_with_gps_only_when_present(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """``gps_latitude``/``gps_longitude`` are absent without GPS data."""
        pr = await api.create(items=[{"instructions": "a"}, {"instructions": "b"}])
        await emu.simulate_submission(pr["id"], gps=(1.5, -2.25), size=2048)
        await emu.simulate_submission(
            pr["id"], content=b"\x89PNG" + b"0" * 1020, mime_type="image/png"
        )

        subs = (await api.get(f"/photo-requests/{pr['id']}/submissions")).data

        assert [s["item_id"] for s in subs] == [i["id"] for i in pr["items"]]
        with_gps, without = subs
        assert with_gps["id"].startswith("ps_")
        assert with_gps["photo_request_id"] == pr["id"]
        assert with_gps["has_gps_data"] is True
        assert (with_gps["gps_latitude"], with_gps["gps_longitude"]) == (1.5, -2.25)
        assert with_gps["file_size_kb"] == 2
        assert without["has_gps_data"] is False
        assert "gps_latitude" not in without
        assert "gps_longitude" not in without
        assert without["mime_type"] == "image/png"
        assert without["file_size_kb"] == 1
        assert without["file_name"].endswith(".png")

    async def test_simulate_returns_what_the_api_lists(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """The helper's return value is the API's submission object."""
        pr = await api.create()
        sub = await emu.simulate_submission(pr["id"], file_name="receipt.jpg")

        assert (await api.get(f"/photo-requests/{pr['id']}/submissions")).data == [sub]
        assert sub["file_name"] == "receipt.jpg"


class TestDownloadUrls:
    async def test_lists_signed_urls_with_validity(self, api: Api, emu: VisionoEmulator) -> None:
        """Each photo has a download and a thumbnail URL; meta says how long they last."""
        pr = await api.create()
        sub = await emu.simulate_submission(pr["id"], gps=(45.0, 9.0))

        reply = await api.get(f"/photo-requests/{pr['id']}/download-urls")

        assert reply.data["photo_request_id"] == pr["id"]
        (entry,) = reply.data["submissions"]
        assert entry["id"] == sub["id"]
        assert entry["item_id"] == sub["item_id"]
        assert entry["download_url"].startswith(f"{emu.root_url}/storage/{sub['id']}/original.jpg?")
        assert entry["thumbnail_url"].startswith(
            f"{emu.root_url}/storage/{sub['id']}/thumbnail.jpg?"
        )
        assert entry["gps_latitude"] == 45.0
        assert reply.body["meta"]["urls_valid_for"] == "24 hours"
        assert reply.body["meta"]["expires_in_seconds"] == 86400

    async def test_urls_are_signed_afresh_on_every_call(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """Later calls give URLs that expire later."""
        pr = await api.create()
        await emu.simulate_submission(pr["id"])
        first = await api.get(f"/photo-requests/{pr['id']}/download-urls")
        emu.advance_time(10)

        second = await api.get(f"/photo-requests/{pr['id']}/download-urls")

        url_1 = first.data["submissions"][0]["download_url"]
        url_2 = second.data["submissions"][0]["download_url"]
        assert url_1 != url_2

    async def test_no_submissions_is_an_empty_list(self, api: Api) -> None:
        """A request without photos lists nothing."""
        pr = await api.create()

        reply = await api.get(f"/photo-requests/{pr['id']}/download-urls")

        assert reply.data == {"photo_request_id": pr["id"], "submissions": []}


class TestQrCode:
    async def test_points_at_a_png(self, api: Api, emu: VisionoEmulator) -> None:
        """``qrcode_url`` serves a PNG image."""
        pr = await api.create()

        reply = await api.get(f"/photo-requests/{pr['id']}/qrcode")
        url = reply.data["qrcode_url"]
        async with api.http.get(url) as resp:
            image = await resp.read()

        assert url == f"{emu.root_url}/qr/{pr['unique_code']}.png"
        assert resp.status == 200
        assert resp.content_type == "image/png"
        assert image.startswith(b"\x89PNG\r\n\x1a\n")
