"""archive() through a real nginx ``secure_link`` origin, expired URLs included."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from archive_helpers import files_under, seed, temp_files

from tests.conftest import require_binary
from visiono_async import VisionoClient
from visiono_async.download import RemoteFile, SignedURLSource, archive, read_manifest
from visiono_async.testing import VisionoEmulator, sample_jpeg
from visiono_async.testing._nginx import NginxStorage

pytestmark = pytest.mark.nginx


@pytest.fixture
async def nginx() -> AsyncIterator[NginxStorage]:
    """A running nginx storage origin on loopback."""
    require_binary("nginx")
    async with NginxStorage(access_log=True) as storage:
        yield storage


class TestThroughNginx:
    async def test_emulator_photos_from_nginx(self, dest: Path) -> None:
        """The emulator's URLs point at nginx; every photo is archived, a re-run skips all."""
        require_binary("nginx")
        async with VisionoEmulator(
            rate_limit_per_minute=10_000, rate_limit_per_hour=100_000, storage=NginxStorage()
        ) as emu:
            key = emu.create_api_key()
            async with VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=None) as c:
                seeded = await seed(c, emu, 6, sizes=[300_000] * 6)
                urls = await c.photo_requests.download_urls(seeded.photo_request_id)
                assert emu.base_url.split("/api")[0] not in (urls.submissions[0].download_url or "")

                report = await archive(c, dest, photo_requests=[seeded.photo_request_id])
                again = await archive(c, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok, report.summary()
        assert 6 == report.downloaded
        assert (0, 6) == (again.downloaded, again.skipped)
        on_disk = files_under(dest)
        assert set(seeded.photos.values()) == set(on_disk.values())
        entries = await read_manifest(dest)
        assert {e.id: e.sha256 for e in entries} == {s: seeded.sha256(s) for s in seeded.photos}

    async def test_expired_and_tampered_urls_are_refreshed(
        self, nginx: NginxStorage, dest: Path
    ) -> None:
        """nginx's 410 (expired) and 403 (bad signature) lead to one refresh, then success."""
        photos = {f"album/p{i}.jpg": sample_jpeg(120_000, seed=i) for i in range(6)}
        for key, content in photos.items():
            await nginx.put(key, content, "image/jpeg")
        calls = 0

        async def sign() -> list[RemoteFile]:
            nonlocal calls
            calls += 1
            files = []
            for n, key in enumerate(sorted(photos)):
                if calls == 1 and n % 2 == 0:
                    url = nginx.signed_url(key, time.time() - 60)  # already expired: 410
                elif calls == 1:
                    url = nginx.signed_url(key, time.time() + 3600).replace("md5=", "md5=x")
                else:
                    url = nginx.signed_url(key, time.time() + 3600)
                files.append(
                    RemoteFile(
                        id=key,
                        url=url,
                        mime_type="image/jpeg",
                        size=len(photos[key]),
                        fields={"name": key},
                    )
                )
            return files

        report = await archive(
            None,
            dest,
            source=SignedURLSource.from_refreshers({"album": sign}),
            template="{name}",
            concurrency=3,
        )

        assert report.ok, report.summary()
        assert 6 == report.downloaded
        assert 2 == calls
        assert {k.replace("/", "_"): v for k, v in photos.items()} == files_under(dest)
        assert [] == temp_files(dest)
        for entry in await read_manifest(dest):
            assert hashlib.sha256(photos[entry.id]).hexdigest() == entry.sha256

    async def test_error_page_from_nginx_is_not_archived(
        self, nginx: NginxStorage, dest: Path
    ) -> None:
        """An HTML page served with 200 where a photo was expected fails that file."""
        await nginx.put("page.jpg", b"<!DOCTYPE html><html>sign in</html>", "text/html")
        await nginx.put("ok.jpg", sample_jpeg(5_000), "image/jpeg")
        files = [
            RemoteFile(
                id=k,
                url=nginx.signed_url(k, time.time() + 600),
                mime_type="image/jpeg",
                fields={"name": k},
            )
            for k in ("page.jpg", "ok.jpg")
        ]

        report = await archive(
            None, dest, source=SignedURLSource.from_files(files), template="{name}"
        )

        assert 1 == report.downloaded
        assert [("page.jpg", "error_body")] == [(f.submission_id, f.reason) for f in report.failed]
        assert ["ok.jpg"] == sorted(files_under(dest))
