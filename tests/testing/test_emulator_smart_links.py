"""``/smart-links`` and ``/permanent-links``: two vocabularies for the same records."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator

pytestmark = pytest.mark.anyio


async def create_link(api: Api, **fields: Any) -> dict[str, Any]:
    """Create a smart link (instructions default to "Vehicle inspection")."""
    fields.setdefault("instructions", "Vehicle inspection")
    reply = await api.post("/smart-links", fields)
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.data
    return result


class TestSmartLinks:
    async def test_create_returns_the_documented_fields(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """201 with id, code, slug, flags, tags, items and a request URL."""
        link = await create_link(
            api,
            custom_slug="fleet-inspection",
            unique_field_label="License Plate",
            show_full_name_field=True,
            full_name_required=True,
            tags=["fleet", "inspection"],
            items=[{"instructions": "Front"}, {"instructions": "Damage", "is_required": False}],
        )

        assert link["id"].startswith("sl_")
        assert len(link["unique_code"]) == 6
        assert link["custom_slug"] == "fleet-inspection"
        assert link["is_active"] is True
        assert link["unique_field_label"] == "License Plate"
        assert link["request_url"] == f"{emu.root_url}/s/fleet-inspection"
        assert link["tags"] == ["fleet", "inspection"]
        assert [i["is_required"] for i in link["items"]] == [True, False]
        assert link["submissions_count"] == 0
        assert link["archived_at"] is None

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "instructions"),
            ({"instructions": "x", "custom_slug": "No Spaces"}, "custom_slug"),
            ({"instructions": "x", "custom_slug": "ab"}, "custom_slug"),
            ({"instructions": "x", "tags": "fleet"}, "tags"),
            ({"instructions": "x", "require_gps": "yes"}, "require_gps"),
        ],
    )
    async def test_invalid_bodies_are_422(self, api: Api, body: dict[str, Any], field: str) -> None:
        """Validation names the field."""
        reply = await api.post("/smart-links", body)

        assert reply.status == 422
        assert field in reply.body["error"]["details"]

    async def test_may_be_created_inactive(self, api: Api) -> None:
        """``is_active: false`` on create gives an archived link."""
        link = await create_link(api, is_active=False)

        assert link["is_active"] is False
        assert link["archived_at"] is not None

    async def test_custom_slug_is_unique(self, api: Api) -> None:
        """A taken slug is a 422 on ``custom_slug``."""
        await create_link(api, custom_slug="taken")

        reply = await api.post("/smart-links", {"instructions": "x", "custom_slug": "taken"})

        assert reply.status == 422
        assert "custom_slug" in reply.body["error"]["details"]

    async def test_get_by_id_code_or_slug(self, api: Api) -> None:
        """All three identifiers work."""
        link = await create_link(api, custom_slug="by-slug")

        for ident in (link["id"], link["unique_code"], "by-slug"):
            assert (await api.get(f"/smart-links/{ident}")).data["id"] == link["id"]
        assert (await api.get("/smart-links/sl_missing")).status == 404

    async def test_put_updates_only_given_fields(self, api: Api) -> None:
        """A partial PUT keeps everything else."""
        link = await create_link(api, tags=["a"], require_gps=True)

        reply = await api.call(
            "PUT", f"/smart-links/{link['id']}", json={"instructions": "New", "tags": ["b"]}
        )

        assert reply.status == 200
        assert reply.data["instructions"] == "New"
        assert reply.data["tags"] == ["b"]
        assert reply.data["require_gps"] is True

    async def test_put_may_keep_its_own_slug(self, api: Api) -> None:
        """Re-sending the link's own slug is not a conflict."""
        link = await create_link(api, custom_slug="mine")

        reply = await api.call("PUT", f"/smart-links/{link['id']}", json={"custom_slug": "mine"})

        assert reply.status == 200

    async def test_delete_archives(self, api: Api, emu: VisionoEmulator) -> None:
        """DELETE keeps the link but deactivates it; it then refuses uploads."""
        link = await create_link(api)

        reply = await api.call("DELETE", f"/smart-links/{link['id']}")

        assert reply.status == 200
        assert reply.data["is_active"] is False
        assert reply.data["archived_at"] is not None
        assert (await api.get(f"/smart-links/{link['id']}")).status == 200
        with pytest.raises(ValueError, match="archived"):
            await emu.simulate_smart_link_submission(link["id"])

    async def test_list_filters_active_and_tags(self, api: Api) -> None:
        """``is_active`` and ``tags`` (any of a comma-separated list) filter the list."""
        fleet = await create_link(api, tags=["fleet"])
        house = await create_link(api, tags=["house", "checkin"])
        old = await create_link(api, tags=["fleet"])
        await api.call("DELETE", f"/smart-links/{old['id']}")

        def ids(reply: Any) -> list[str]:
            return [link["id"] for link in reply.data]

        active = await api.get("/smart-links", params={"is_active": "true"})
        tagged = await api.get("/smart-links", params={"tags": "fleet,checkin"})
        archived_fleet = await api.get("/smart-links", params={"tags": "fleet", "is_active": "0"})
        bad = await api.get("/smart-links", params={"is_active": "maybe"})

        assert ids(active) == [house["id"], fleet["id"]]
        assert ids(tagged) == [old["id"], house["id"], fleet["id"]]
        assert ids(archived_fleet) == [old["id"]]
        assert bad.status == 422


class TestSmartLinkSubmissions:
    async def test_submissions_carry_the_submitter(self, api: Api, emu: VisionoEmulator) -> None:
        """``pls_`` ids, ``unique_value`` and ``full_name`` in both listings."""
        link = await create_link(api, show_full_name_field=True)
        sub = await emu.simulate_smart_link_submission(
            link["id"], unique_value="AB-123-CD", full_name="Ada Lovelace", gps=(45.0, 9.0)
        )

        subs = (await api.get(f"/smart-links/{link['id']}/submissions")).data
        urls = await api.get(f"/smart-links/{link['id']}/download-urls")

        assert sub["id"].startswith("pls_")
        assert subs == [sub]
        assert sub["smart_link_id"] == link["id"]
        assert sub["unique_value"] == "AB-123-CD"
        assert sub["full_name"] == "Ada Lovelace"
        assert urls.data["smart_link_id"] == link["id"]
        (entry,) = urls.data["submissions"]
        assert entry["unique_value"] == "AB-123-CD"
        assert entry["full_name"] == "Ada Lovelace"
        assert entry["gps_latitude"] == 45.0
        assert urls.body["meta"]["expires_in_seconds"] == 86400

    async def test_many_submitters_may_fill_the_same_item(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """Links are permanent: every submitter uploads again."""
        link = await create_link(api)
        for plate in ("A", "B", "C"):
            await emu.simulate_smart_link_submission(link["id"], unique_value=plate)

        assert (await api.get(f"/smart-links/{link['id']}")).data["submissions_count"] == 3

    async def test_required_name_and_gps_are_enforced(self, api: Api, emu: VisionoEmulator) -> None:
        """The helper refuses what the upload page would refuse."""
        named = await create_link(api, show_full_name_field=True, full_name_required=True)
        located = await create_link(api, require_gps=True)

        with pytest.raises(ValueError, match="full name"):
            await emu.simulate_smart_link_submission(named["id"])
        with pytest.raises(ValueError, match="require_gps"):
            await emu.simulate_smart_link_submission(located["id"])
        with pytest.raises(ValueError, match="no item"):
            await emu.simulate_smart_link_submission(located["id"], "pri_nope", gps=(0.0, 0.0))

    async def test_qrcode_uses_the_slug(self, api: Api, emu: VisionoEmulator) -> None:
        """The QR image URL ends in the link's slug."""
        link = await create_link(api, custom_slug="qr-me")

        reply = await api.get(f"/smart-links/{link['id']}/qrcode")
        async with api.http.get(reply.data["qrcode_url"]) as resp:
            await resp.read()

        assert reply.data["qrcode_url"] == f"{emu.root_url}/qr/qr-me.png"
        assert resp.status == 200


class TestPermanentLinks:
    async def test_create_and_read_in_the_old_vocabulary(
        self, api: Api, emu: VisionoEmulator
    ) -> None:
        """``name``, ``slug`` and ``url``; the same record is a smart link too."""
        reply = await api.post(
            "/permanent-links", {"name": "Check-in", "slug": "check-in", "tags": ["house"]}
        )

        assert reply.status == 201
        link = reply.data
        assert link["id"].startswith("sl_")
        assert link["name"] == "Check-in"
        assert link["instructions"] == "Check-in"
        assert link["slug"] == "check-in"
        assert link["url"] == f"{emu.root_url}/s/check-in"
        assert link["is_active"] is True
        assert link["submissions_count"] == 0
        smart = (await api.get(f"/smart-links/{link['id']}")).data
        assert smart["custom_slug"] == "check-in"

    async def test_name_is_required(self, api: Api) -> None:
        """A permanent link needs a name."""
        reply = await api.post("/permanent-links", {"instructions": "x"})

        assert reply.status == 422
        assert "name" in reply.body["error"]["details"]

    async def test_smart_links_show_up_as_permanent_links(self, api: Api) -> None:
        """Both lists show the same records; a slug defaults to the lowercase code."""
        smart = await create_link(api)

        (link,) = (await api.get("/permanent-links")).data

        assert link["id"] == smart["id"]
        assert link["slug"] == smart["unique_code"].lower()
        assert link["name"] == smart["instructions"]

    async def test_patch_updates_and_can_deactivate(self, api: Api) -> None:
        """PATCH changes the given fields; ``is_active`` false archives."""
        link = (await api.post("/permanent-links", {"name": "A"})).data

        reply = await api.call(
            "PATCH", f"/permanent-links/{link['id']}", json={"name": "B", "is_active": False}
        )

        assert reply.data["name"] == "B"
        assert reply.data["is_active"] is False
        assert (await api.get(f"/smart-links/{link['id']}")).data["archived_at"] is not None

    async def test_patch_cannot_blank_the_instructions(self, api: Api) -> None:
        """Instructions may change but not become empty."""
        link = (await api.post("/permanent-links", {"name": "A"})).data

        reply = await api.call("PATCH", f"/permanent-links/{link['id']}", json={"instructions": ""})

        assert reply.status == 422
        assert "instructions" in reply.body["error"]["details"]

    async def test_delete_really_deletes(self, api: Api, emu: VisionoEmulator) -> None:
        """DELETE answers ``deleted: true`` and the link is gone everywhere."""
        link = (await api.post("/permanent-links", {"name": "A"})).data
        await emu.simulate_smart_link_submission(link["id"])

        reply = await api.call("DELETE", f"/permanent-links/{link['id']}")

        assert reply.data == {"id": link["id"], "deleted": True}
        assert (await api.get(f"/permanent-links/{link['id']}")).status == 404
        assert (await api.get(f"/smart-links/{link['id']}")).status == 404
        with pytest.raises(ValueError, match="no smart link"):
            await emu.simulate_smart_link_submission(link["id"])

    async def test_slug_conflicts_with_smart_link_slugs(self, api: Api) -> None:
        """One slug namespace for both."""
        await create_link(api, custom_slug="shared")

        reply = await api.post("/permanent-links", {"name": "x", "slug": "shared"})

        assert reply.status == 422
        assert "slug" in reply.body["error"]["details"]
