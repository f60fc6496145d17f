"""archive() against the emulator: every file on disk, in the manifest and in the report."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, names, seed, temp_files

from visiono_async import AuthenticationError, NotFoundError
from visiono_async.download import (
    ArchiveError,
    ProgressEvent,
    archive,
    iter_archive,
    read_manifest,
)
from visiono_async.download._pipeline import _ROOM_PER_WORKER as ROOM
from visiono_async.testing import VisionoEmulator

FAST = {"backoff": 0.01}


def storage_gets(emulator: Any) -> int:
    return int(emulator.count("GET", "/storage/"))


def url_calls(emulator: Any) -> int:
    return int(emulator.count("GET", "download-urls"))


async def raw_download_urls(client: Any, photo_request_id: str) -> dict[str, Any]:
    """The download-urls JSON body as the API sends it (for crafting hostile answers)."""
    response = await client.session.request(
        "GET", f"/photo-requests/{photo_request_id}/download-urls"
    )
    body: dict[str, Any] = copy.deepcopy(response.body)
    return body


class TestHappyPath:
    async def test_archives_every_photo_with_manifest_and_report(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Every photo lands under the default template, verified, hashed and recorded."""
        seeded = await seed(client, emulator, 5)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok
        assert (5, 0, []) == (report.downloaded, report.skipped, report.failed)
        assert sum(len(p) for p in seeded.photos.values()) == report.bytes
        assert 1 == url_calls(emulator)
        assert 1 == report.api_calls
        on_disk = files_under(dest)
        entries = await read_manifest(dest)
        assert 5 == len(entries) == len(on_disk)
        for entry in entries:
            assert entry.submission_id is not None
            photo = seeded.photos[entry.submission_id]
            assert photo == on_disk[entry.path]
            assert hashlib.sha256(photo).hexdigest() == entry.sha256
            assert f"{seeded.photo_request_id}/{entry.item_id}_{entry.submission_id}.jpg" == (
                entry.path
            )
            assert (45.46, 9.19) == (entry.latitude, entry.longitude)
            assert entry.submitted_at is not None
            assert "image/jpeg" == entry.mime_type
        assert [] == temp_files(dest)

    async def test_fsync_option(self, client: Any, emulator: Any, dest: Path) -> None:
        """With fsync every file is flushed to disk before its rename; same result."""
        seeded = await seed(client, emulator, 2)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], fsync=True)

        assert 2 == report.downloaded
        assert set(seeded.photos.values()) == set(files_under(dest).values())

    async def test_client_archive_delegates(self, client: Any, emulator: Any, dest: Path) -> None:
        """``client.archive`` is the same pipeline."""
        seeded = await seed(client, emulator, 2)

        report = await client.archive(dest, photo_requests=[seeded.photo_request_id])

        assert 2 == report.downloaded
        assert 2 == len(files_under(dest))

    async def test_both_variants_and_sidecars(self, client: Any, emulator: Any, dest: Path) -> None:
        """Originals and thumbnails get distinct names; each has a JSON sidecar."""
        seeded = await seed(client, emulator, 2)

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], variant="both", sidecar=True
        )

        assert 4 == report.downloaded
        on_disk = files_under(dest)
        photos = sorted(p for p in on_disk if p.endswith(".jpg"))
        assert 2 == sum(p.endswith(".thumbnail.jpg") for p in photos)
        assert 4 == len(photos)
        assert {f"{p}.json" for p in photos} == {p for p in on_disk if p.endswith(".json")}
        entries = {e.id: e for e in await read_manifest(dest)}
        assert {"original", "thumbnail"} == {e.variant for e in entries.values()}

    async def test_custom_template(self, client: Any, emulator: Any, dest: Path) -> None:
        """The template decides the layout."""
        seeded = await seed(client, emulator, 2)

        await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            template="flat/{submission_id}{ext}",
        )

        assert {f"flat/{s}.jpg" for s in seeded.photos} == set(files_under(dest))

    async def test_filters_list_requests_and_smart_links(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Without ids, list filters select photo requests and smart links page by page."""
        seeded = await seed(client, emulator, 2)
        try:
            link = await client.smart_links.create(
                instructions="Fleet", items=[{"instructions": "Plate"}]
            )
        except NotFoundError:  # pragma: no cover - until the emulator serves smart links
            pytest.skip("the emulator does not serve smart links yet")
        sub = await emulator.simulate_smart_link_submission(link.id, unique_value="AB-123")

        report = await archive(client, dest, variant="original")

        assert 3 == report.downloaded
        entries = {e.submission_id: e for e in await read_manifest(dest)}
        assert set(seeded.photos) | {sub["id"]} == set(entries)
        assert link.id == entries[sub["id"]].smart_link_id
        assert entries[sub["id"]].path.startswith(f"{link.id}/")

    async def test_smart_link_rows_have_no_photo_request(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A smart-link photo is filed under the link, but its row names no photo request.

        The default template's folder falls back to the smart link id; that fallback is
        the template's, and once leaked into the row as ``photo_request_id = "sl_..."``.
        """
        link = await client.smart_links.create(
            instructions="Fleet", items=[{"instructions": "Plate"}]
        )
        sub = await emulator.simulate_smart_link_submission(link.id, unique_value="AB-123")

        await archive(client, dest, smart_links=[link.id], sidecar=True)

        (entry,) = await read_manifest(dest)
        assert (sub["id"], None, link.id) == (
            entry.submission_id,
            entry.photo_request_id,
            entry.smart_link_id,
        )
        assert entry.path.startswith(f"{link.id}/")
        side = json.loads((dest / f"{entry.path}.json").read_text())
        assert entry.sha256 == side["sha256"]
        assert link.id == side["fields"]["smart_link_id"]
        assert "AB-123" == side["fields"]["unique_value"]

    async def test_status_filter_only_archives_matching_requests(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A status filter that matches nothing archives nothing."""
        await seed(client, emulator, 1)

        report = await archive(client, dest, status="cancelled")

        assert (0, 0) == (report.downloaded, report.skipped)
        assert {} == files_under(dest)


class TestIncremental:
    async def test_rerun_downloads_nothing_and_touches_no_storage(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A second run skips every complete file without a storage request."""
        seeded = await seed(client, emulator, 4)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        gets = storage_gets(emulator)
        before = files_under(dest)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert (0, 4, []) == (report.downloaded, report.skipped, report.failed)
        assert gets == storage_gets(emulator)
        assert before == files_under(dest)
        assert 4 == len(await read_manifest(dest))

    async def test_rerun_fetches_new_and_deleted_files_only(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A file removed from disk is fetched again; the rest is skipped."""
        seeded = await seed(client, emulator, 3)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        victim = (await read_manifest(dest))[0]
        (dest / victim.path).unlink()
        gets = storage_gets(emulator)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert (1, 2) == (report.downloaded, report.skipped)
        assert gets + 1 == storage_gets(emulator)
        assert seeded.photos[victim.id] == (dest / victim.path).read_bytes()

    async def test_cancelled_run_resumes_with_the_rest(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Cancel mid-run: no partial file, a consistent manifest; the next run does the rest."""
        seeded = await seed(client, emulator, 8)
        emulator.faults.delay(0.05, path="/storage/")

        with anyio.CancelScope() as scope:

            def on_progress(event: ProgressEvent) -> None:
                if event.kind == "file_done" and event.files_done >= 3:
                    scope.cancel()

            await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=2,
                on_progress=on_progress,
            )
        assert scope.cancelled_caught
        emulator.faults.clear()

        assert [] == temp_files(dest)
        first = await read_manifest(dest)
        on_disk = files_under(dest)
        assert 3 <= len(first) < 8
        assert {e.path for e in first} <= set(on_disk)
        for path, content in on_disk.items():
            assert content in seeded.photos.values(), path

        gets = storage_gets(emulator)
        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert len(first) == report.skipped
        assert 8 == report.skipped + report.downloaded
        assert report.downloaded == storage_gets(emulator) - gets
        assert 8 == len(await read_manifest(dest)) == len(files_under(dest))


class TestExpiry:
    async def test_urls_expiring_mid_run_are_refreshed_once(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """URLs that expire under a running archive cost one coalesced download-urls call."""
        seeded = await seed(client, emulator, 10)
        emulator.faults.delay(0.02, path="/storage/")
        expired = False

        def on_progress(event: ProgressEvent) -> None:
            nonlocal expired
            if event.kind == "file_done" and not expired:
                expired = True
                emulator.advance_time(2 * 86400)

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            concurrency=4,
            on_progress=on_progress,
        )

        assert report.ok
        assert 10 == report.downloaded
        assert 2 == url_calls(emulator)
        assert 2 == report.api_calls
        assert 10 == len(await read_manifest(dest)) == len(files_under(dest))

    async def test_ttl_shorter_than_the_run(self, dest: Path) -> None:
        """URLs living 2 s on a clock that moves 3 s per two files finished: one refresh per
        expiry. More files than the fetches can run ahead of the finish (the finisher's room
        plus one per worker), so some are fetched after the clock has moved."""
        from visiono_async import VisionoClient

        async with VisionoEmulator(
            rate_limit_per_minute=10_000, rate_limit_per_hour=100_000, url_ttl=2.0
        ) as emu:
            key = emu.create_api_key()
            async with VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=None) as c:
                count = (ROOM + 1) * 2 + 8
                seeded = await seed(c, emu, count)
                advances = 0

                def on_progress(event: ProgressEvent) -> None:
                    nonlocal advances
                    if event.kind == "file_done" and event.files_done % 2 == 0:
                        advances += 1
                        emu.advance_time(3.0)

                report = await archive(
                    c,
                    dest,
                    photo_requests=[seeded.photo_request_id],
                    concurrency=2,
                    on_progress=on_progress,
                )

                assert report.ok, report.summary()
                assert count == report.downloaded
                assert 2 <= url_calls(emu) <= 1 + advances
                assert count == len(await read_manifest(dest)) == len(files_under(dest))

    async def test_tampered_url_is_refreshed(self, client: Any, emulator: Any, dest: Path) -> None:
        """A URL whose signature was tampered with gets a 403 and is replaced by a fresh one."""
        seeded = await seed(client, emulator, 3)
        body = await raw_download_urls(client, seeded.photo_request_id)
        first = body["data"]["submissions"][0]
        first["download_url"] = first["download_url"].replace("signature=", "signature=00")
        emulator.faults.fail_next(1, status=200, path="download-urls", body=body)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok
        assert 3 == report.downloaded
        assert 3 == url_calls(emulator)  # the raw call above, the tampered one, one refresh
        assert seeded.photos[first["id"]] in files_under(dest).values()


class TestStorageFaults:
    @pytest.mark.parametrize("status", [403, 410], ids=["forbidden", "gone"])
    async def test_403_410_bursts_refresh_and_retry(
        self, client: Any, emulator: Any, dest: Path, status: int
    ) -> None:
        """An expired-looking answer triggers a URL refresh, then the file downloads.

        The emulator signs the same URL again within its validity window: storage gets one
        more try with it, after a pause.
        """
        seeded = await seed(client, emulator, 4)
        emulator.faults.fail_next(1, status=status, path="/storage/", body="<Error/>")

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], concurrency=1
        )

        assert report.ok
        assert 4 == report.downloaded
        assert 2 == url_calls(emulator)
        assert 4 == len(await read_manifest(dest)) == len(files_under(dest))

    async def test_5xx_burst_is_retried(self, client: Any, emulator: Any, dest: Path) -> None:
        """5xx answers are retried with backoff; nothing is lost, no URL refresh is needed."""
        seeded = await seed(client, emulator, 4)
        emulator.faults.fail_next(3, status=503, path="/storage/", body="busy")

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], **FAST)

        assert report.ok
        assert 4 == report.downloaded
        assert 1 == url_calls(emulator)
        assert 4 + 3 == storage_gets(emulator)

    async def test_persistent_5xx_fails_the_file_with_a_reason(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A file that keeps failing is reported, the others are archived."""
        seeded = await seed(client, emulator, 3)
        victim = next(iter(seeded.photos))
        emulator.faults.fail_next(100, status=500, path=f"/storage/{victim}/")

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], max_attempts=3, **FAST
        )

        assert not report.ok
        assert 2 == report.downloaded
        assert [(victim, "http_500")] == [(f.submission_id, f.reason) for f in report.failed]
        assert victim not in {e.id for e in await read_manifest(dest)}
        assert 2 == len(files_under(dest))
        assert [] == temp_files(dest)

    async def test_connection_resets_are_retried(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Connections reset before an answer are retried."""
        seeded = await seed(client, emulator, 3)
        emulator.faults.reset(2, path="/storage/")

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], **FAST)

        assert report.ok
        assert 3 == report.downloaded
        assert set(seeded.photos.values()) == set(files_under(dest).values())

    async def test_cut_body_resumes_with_range(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A body cut mid-stream resumes from what was written, with a Range request."""
        seeded = await seed(client, emulator, 1, sizes=[1 << 20])
        (sub_id,) = seeded.photos
        emulator.faults.cut_body(400_000, path="/storage/")

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], chunk_size=64 * 1024, **FAST
        )

        assert report.ok
        ranges = [r.range for r in emulator.requests if "/storage/" in r.path and r.range]
        assert 1 == len(ranges)
        start = int(ranges[0].removeprefix("bytes=").split("-")[0])
        assert 0 < start <= 400_000
        (entry,) = await read_manifest(dest)
        assert seeded.sha256(sub_id) == entry.sha256
        assert seeded.photos[sub_id] == (dest / entry.path).read_bytes()
        assert 1 << 20 == report.bytes - 0 or report.bytes >= 1 << 20

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ({"error": {"code": "AccessDenied", "message": "nope"}}, None),
            ("<!DOCTYPE html><html><body>Login</body></html>", "text/html"),
            ('<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "image/jpeg"),
        ],
        ids=["json", "html", "xml-labelled-as-jpeg"],
    )
    async def test_error_body_with_200_fails_that_file(
        self, client: Any, emulator: Any, dest: Path, body: Any, content_type: str | None
    ) -> None:
        """JSON, HTML or XML where a photo was expected is never archived."""
        seeded = await seed(client, emulator, 2)
        emulator.faults.fail_next(
            1, status=200, path="/storage/", body=body, content_type=content_type
        )

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], concurrency=1
        )

        assert 1 == report.downloaded
        assert ["error_body"] == [f.reason for f in report.failed]
        on_disk = files_under(dest)
        assert 1 == len(on_disk)
        assert set(on_disk.values()) <= set(seeded.photos.values())
        assert 1 == len(await read_manifest(dest))
        assert [] == temp_files(dest)

    async def test_size_mismatch_fails_that_file(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A file whose size contradicts file_size_kb is rejected."""
        seeded = await seed(client, emulator, 2)
        body = await raw_download_urls(client, seeded.photo_request_id)
        liar = body["data"]["submissions"][0]
        liar["file_size_kb"] = 500
        emulator.faults.fail_next(1, status=200, path="download-urls", body=body)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert 1 == report.downloaded
        assert [(liar["id"], "size_mismatch")] == [
            (f.submission_id, f.reason) for f in report.failed
        ]
        assert liar["id"] not in {e.id for e in await read_manifest(dest)}
        assert 1 == len(files_under(dest))
        assert [] == temp_files(dest)


class TestHostileInput:
    async def test_hostile_ids_from_the_api_stay_inside_dest(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """Traversal, absolute paths, NUL and 300-character ids never escape ``dest``."""
        dest = tmp_path / "inner" / "archive"
        seeded = await seed(client, emulator, 4)
        body = await raw_download_urls(client, seeded.photo_request_id)
        data = body["data"]
        data["photo_request_id"] = "../../.."
        hostile = ["../../escape", "/etc/passwd", "nul\x00byte\x07bell", "x" * 300]
        for sub, item in zip(data["submissions"], hostile, strict=True):
            sub["item_id"] = item
        emulator.faults.fail_next(1, status=200, path="download-urls", body=body)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok, report.summary()
        assert 4 == report.downloaded
        assert ["archive"] == names(tmp_path / "inner")
        assert ["inner"] == names(tmp_path)
        on_disk = files_under(dest)
        assert 4 == len(on_disk)
        assert set(seeded.photos.values()) == set(on_disk.values())
        for path in on_disk:
            assert ".." not in path.split("/")
            assert "\x00" not in path
            assert all(len(part.encode()) <= 255 for part in path.split("/"))
            assert (dest / path).resolve().is_relative_to(dest.resolve())


class TestDestination:
    async def test_destination_that_is_a_file_is_a_clear_error(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """A destination that cannot hold files stops before any download."""
        seeded = await seed(client, emulator, 1)
        dest = tmp_path / "not-a-folder"
        dest.write_text("occupied")

        with pytest.raises(ArchiveError) as info:
            await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert "destination_not_writable" == info.value.reason
        assert str(dest) in str(info.value)
        assert 0 == storage_gets(emulator)
        assert "occupied" == dest.read_text()


class TestProgress:
    async def test_callback_sees_every_file(self, client: Any, emulator: Any, dest: Path) -> None:
        """Events report batches, each file, bytes and the end, with running totals."""
        seeded = await seed(client, emulator, 3)
        events: list[ProgressEvent] = []

        await archive(
            client, dest, photo_requests=[seeded.photo_request_id], on_progress=events.append
        )

        kinds = [e.kind for e in events]
        assert "batch" == kinds[0]
        assert "finished" == kinds[-1]
        assert 3 == kinds.count("file_done")
        assert 3 == kinds.count("file_started")
        last = events[-1]
        assert (3, 3, 0, 0) == (
            last.files_total,
            last.files_done,
            last.files_skipped,
            last.files_failed,
        )
        assert sum(len(p) for p in seeded.photos.values()) == last.bytes_done

    async def test_async_iterator_of_events(self, client: Any, emulator: Any, dest: Path) -> None:
        """``iter_archive`` yields the events and then holds the report."""
        seeded = await seed(client, emulator, 2)
        done: list[str | None] = []

        async with iter_archive(client, dest, photo_requests=[seeded.photo_request_id]) as events:
            async for event in events:
                if event.kind == "file_done":
                    done.append(event.path)

        assert events.report is not None
        assert 2 == events.report.downloaded
        assert sorted(files_under(dest)) == sorted(p for p in done if p)


class TestAPIErrors:
    async def test_unknown_photo_request_is_reported_and_the_rest_archived(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A photo request the API does not know is one ``not_found`` line; others go on."""
        seeded = await seed(client, emulator, 2)

        report = await archive(
            client, dest, photo_requests=["pr_doesnotexist", seeded.photo_request_id]
        )

        assert 2 == report.downloaded
        assert [("pr_doesnotexist", "not_found")] == [
            (f.submission_id, f.reason) for f in report.failed
        ]
        assert "photo request pr_doesnotexist: not found" == report.failed[0].message

    async def test_rejected_key_raises_itself(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """An authentication failure is raised as AuthenticationError, not wrapped."""
        seeded = await seed(client, emulator, 1)
        emulator.revoke_api_key(api_key)

        with pytest.raises(AuthenticationError):
            await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert 0 == storage_gets(emulator)
        assert [] == temp_files(dest)
