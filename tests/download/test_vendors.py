"""Sources from any vendor: tokens, JSON errors, files not there yet, costly refreshes."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, temp_files
from fake_vendors import NOT_AVAILABLE, CameraAPI, PhotoAPI, sample_png

import visiono_async
from visiono_async.download import (
    RemoteFile,
    SignedURLSource,
    archive,
    read_manifest,
    walk_pages,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def run_example(name: str, *args: str, **env: str) -> tuple[int, str]:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(Path(visiono_async.__file__).parent.parent),
        **env,
    }
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLES / name), *args], env=full_env, check=False
    )
    return result.returncode, result.stdout.decode() + result.stderr.decode()


class TestTokenPhotoAPI:
    async def test_example_archives_images_and_reports_the_vendors_errors(
        self, tmp_path: Path
    ) -> None:
        """Images and thumbnails with the token; JSON errors fail with the vendor's words."""
        dest = tmp_path / "out"
        async with PhotoAPI("tok-123") as api:
            code, out = await run_example(
                "token_photo_api.py", api.base_url, str(dest), PHOTO_API_TOKEN="tok-123"
            )
            assert 0 == api.unauthorised

        assert 1 == code, out
        assert "7 downloaded, 0 skipped, 3 failed" in out
        assert "Image not available" in out
        assert "tok-123" not in out
        on_disk = files_under(dest)
        expected = {f"p{i}.png" for i in (0, 1, 3)} | {f"p{i}.thumbnail.jpg" for i in (0, 1, 3, 4)}
        assert expected == set(on_disk)
        assert all(not body.startswith(b"{") for body in on_disk.values())
        entries = {e.id: e for e in await read_manifest(dest)}
        assert "image/png" == entries["p0"].mime_type

    async def test_failure_reasons_quote_the_vendor_bounded(self, tmp_path: Path) -> None:
        """404 with a JSON body and 200 with a JSON body: reasons carry the vendor message."""
        async with PhotoAPI("t") as api:
            auth = {"Authorization": "Bearer t"}
            files = [
                RemoteFile(id=p, url=f"{api.base_url}/v2/files/{p}/original", headers=auth)
                for p in ("p2", "p4")
            ]
            report = await archive(
                None, tmp_path, source=SignedURLSource.from_files(files), backoff=0.01
            )
        failed = {f.submission_id: f for f in report.failed}
        assert ("http_404", "error_body") == (failed["p2"].reason, failed["p4"].reason)
        for f in failed.values():
            assert "4515: Image not available" in f.message
            assert len(f.message) < 400
        assert {} == files_under(tmp_path)
        assert [] == temp_files(tmp_path)

    async def test_a_401_from_storage_is_not_refreshed(self, tmp_path: Path) -> None:
        """A refused token fails once, saying why: no URL refresh can fix credentials."""
        calls = 0
        async with PhotoAPI("right") as api:

            async def sign() -> list[RemoteFile]:
                nonlocal calls
                calls += 1
                url = f"{api.base_url}/v2/files/p0/original"
                return [RemoteFile(id="p0", url=url, headers={"Authorization": "Bearer wrong"})]

            report = await archive(
                None, tmp_path, source=SignedURLSource.from_refreshers({"b": sign})
            )
            assert 1 == api.unauthorised
        assert 1 == calls
        assert ["http_401"] == [f.reason for f in report.failed]
        assert "cannot fix" in report.failed[0].message
        assert "wrong" not in report.failed[0].message


class TestCameraAPI:
    async def test_example_waits_for_delayed_images_with_one_capture_each(
        self, tmp_path: Path
    ) -> None:
        """404 until ready: retried, not failed; one capture per device; named by bytes."""
        dest = tmp_path / "snaps"
        async with CameraAPI(delay=0.6) as api:
            code, out = await run_example(
                "camera_api.py", api.base_url, str(dest), "cam-1", "cam-2", "cam-3"
            )
            assert {"cam-1": 1, "cam-2": 1, "cam-3": 1} == api.captures

        assert 0 == code, out
        assert "3 downloaded, 0 skipped, 0 failed" in out
        assert {"cam-1.png", "cam-2.png", "cam-3.png"} == set(files_under(dest))
        assert "cam-1.png: image/png" in out

    async def test_a_file_not_started_before_available_at(self, tmp_path: Path) -> None:
        """available_at in the future: no GET before it, so no 404 is ever seen."""
        async with CameraAPI(delay=0.3) as api:

            async def capture() -> list[RemoteFile]:
                import aiohttp

                async with (
                    aiohttp.ClientSession() as http,
                    http.post(f"{api.base_url}/api/devices/d/capture") as resp,
                ):
                    shot = await resp.json()
                # Counted from when the answer is here, which is after the camera's own
                # clock started (a start counted from before the call raced a slow one);
                # 50 ms more for a timer that fires a clock tick early.
                ready = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                    seconds=shot["available_in"] + 0.05
                )
                return [RemoteFile(id="d", url=shot["image_url"], available_at=ready)]

            report = await archive(
                None,
                tmp_path,
                source=SignedURLSource.from_refreshers({"d": capture}, availability_timeout=5),
                template="{id}{ext}",
            )
            assert 0 == api.not_ready
        assert report.ok
        assert ["d.png"] == list(files_under(tmp_path))

    async def test_past_the_availability_deadline_a_404_is_final(self, tmp_path: Path) -> None:
        """An image that never arrives fails with the vendor's message, after the deadline."""
        async with CameraAPI(delay=3600) as api:
            url = f"{api.base_url}/api/images/none"
            api._images["none"] = (1e12, sample_png(10, seed=0), 1e12)
            source = SignedURLSource.from_files(
                [RemoteFile(id="x", url=url)], availability_timeout=0.3
            )
            report = await archive(None, tmp_path, source=source, backoff=0.05)
            assert api.not_ready >= 2
        assert ["http_404"] == [f.reason for f in report.failed]
        assert "image not ready" in report.failed[0].message
        assert "still not available" in report.failed[0].message

    def test_available_at_must_be_aware(self) -> None:
        """A naive datetime is refused: it would be read in some unknown zone."""
        with pytest.raises(ValueError, match="aware"):
            RemoteFile(id="x", url="http://h/x", available_at=dt.datetime(2030, 1, 1))


class TestWalkPages:
    @pytest.mark.parametrize(
        "style", ["numbered", "next_link", "cursor", "bare"], ids=lambda s: str(s)
    )
    async def test_every_item_of_every_page(self, style: str) -> None:
        """Page numbers, links.next, cursors and a bare list: every item, once, in order."""
        items = [{"n": i} for i in range(7)]
        asked: list[dict[str, Any]] = []

        async def page(params: dict[str, Any]) -> Any:
            asked.append(params)
            if style == "bare":
                return items
            if style == "cursor":
                start = int(params.get("cursor", 0))
                nxt = start + 3 if start + 3 < len(items) else None
                return {"data": items[start : start + 3], "meta": {"next_cursor": nxt and str(nxt)}}
            number = int(params.get("page", 1))
            chunk = items[(number - 1) * 3 : number * 3]
            if style == "numbered":
                return {"data": chunk, "meta": {"current_page": number, "last_page": 3}}
            more = number * 3 < len(items)
            link = f"https://x.example/photos?page={number + 1}&sort=asc" if more else None
            return {"data": chunk, "links": {"next": link}}

        got = [item async for item in walk_pages(page, params={"sort": "asc"})]

        assert items == got
        assert all(p.get("sort") == "asc" for p in asked)

    async def test_a_page_repeated_forever_is_refused(self) -> None:
        """A server that keeps sending the same next link cannot loop the source."""

        async def page(params: dict[str, Any]) -> Any:
            return {"data": [{"n": 1}], "links": {"next": "https://x.example/p?page=2"}}

        with pytest.raises(ValueError, match="repeats"):
            _ = [item async for item in walk_pages(page)]


def test_the_examples_have_docstrings() -> None:
    """Each example says what it shows and how to run it."""
    for name in ("token_photo_api.py", "camera_api.py"):
        assert (EXAMPLES / name).read_text().lstrip().startswith('"""')
    assert NOT_AVAILABLE["success"] is False
