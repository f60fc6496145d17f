"""Custom signed-URL sources: any provider's URLs, naming fields and refreshers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from aiohttp import web
from archive_helpers import files_under, names, seed, temp_files

from visiono_async.download import (
    ArchiveError,
    Batch,
    ProgressEvent,
    RemoteFile,
    SignedURLSource,
    archive,
    read_manifest,
)
from visiono_async.testing import sample_jpeg


async def signed_files(
    client: Any, emulator: Any, count: int
) -> tuple[list[Any], dict[str, bytes]]:
    """Signed emulator storage URLs (as any provider would hand them out) and their bytes."""
    seeded = await seed(client, emulator, count)
    urls = await client.photo_requests.download_urls(seeded.photo_request_id)
    return list(urls.submissions), seeded.photos


class TestCustomSource:
    async def test_archives_arbitrary_signed_urls(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Files from a custom source land under the template's names, with no client."""
        subs, photos = await signed_files(client, emulator, 3)
        files = [
            RemoteFile(
                id=f"doc-{i}",
                url=s.download_url,
                size=len(photos[s.id]),
                mime_type="image/jpeg",
                fields={"album": "holidays", "name": f"photo {i}"},
            )
            for i, s in enumerate(subs)
        ]

        report = await archive(
            None, dest, source=SignedURLSource.from_files(files), template="{album}/{name}{ext}"
        )

        assert report.ok
        assert 3 == report.downloaded
        on_disk = files_under(dest)
        assert {f"holidays/photo {i}.jpg" for i in range(3)} == set(on_disk)
        assert set(photos.values()) == set(on_disk.values())
        assert {f"doc-{i}" for i in range(3)} == {e.id for e in await read_manifest(dest)}

    async def test_hostile_names_stay_inside_dest(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """Traversal, absolute paths, NUL, reserved and very long names are made safe."""
        dest = tmp_path / "box"
        hostile = [
            "../../../outside",
            "/etc/passwd",
            "a\x00b\x1b[31m",
            "y" * 300,
            "CON",
            "..",
            "",
            "e\u0301t\u00e9",  # NFD and NFC spellings of the same name
        ]
        subs, photos = await signed_files(client, emulator, len(hostile))
        files = [
            RemoteFile(
                id=name or "empty",
                url=s.download_url,
                mime_type="image/jpeg",
                fields={"folder": name, "name": name},
            )
            for name, s in zip(hostile, subs, strict=True)
        ]

        report = await archive(
            None, dest, source=SignedURLSource.from_files(files), template="{folder}/../{name}{ext}"
        )

        assert report.ok, report.summary()
        assert len(hostile) == report.downloaded
        assert ["box"] == names(tmp_path)
        on_disk = files_under(dest)
        assert len(hostile) == len(on_disk)
        assert set(photos.values()) == set(on_disk.values())
        for path in on_disk:
            parts = path.split("/")
            assert all(p not in {"", ".", ".."} for p in parts)
            assert all(len(p.encode()) <= 255 for p in parts)
            assert not any(ch in path for ch in "\x00\x1b")
            assert (dest / path).resolve().is_relative_to(dest.resolve())

    async def test_refresher_replaces_a_tampered_url(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A 403 calls the batch's refresher once; the fresh URL is used."""
        subs, photos = await signed_files(client, emulator, 2)
        calls = 0

        async def sign() -> list[RemoteFile]:
            nonlocal calls
            calls += 1
            return [
                RemoteFile(
                    id=s.id,
                    url=s.download_url.replace(
                        "signature=", "signature=ff" if calls == 1 else "signature="
                    ),
                    mime_type="image/jpeg",
                )
                for s in subs
            ]

        report = await archive(
            None, dest, source=SignedURLSource.from_refreshers({"album": sign}), concurrency=2
        )

        assert report.ok
        assert 2 == calls
        assert 2 == report.api_calls
        assert set(photos.values()) == set(files_under(dest).values())

    async def test_url_that_stays_bad_fails_with_a_reason(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A URL that refreshing cannot fix fails after one refresh that returned it again."""
        subs, _ = await signed_files(client, emulator, 2)
        bad = RemoteFile(id="bad", url=subs[0].download_url.replace("signature=", "signature=00"))
        good = RemoteFile(id="good", url=subs[1].download_url)

        report = await archive(
            None, dest, source=SignedURLSource.from_files([bad, good]), backoff=0.01
        )

        assert 1 == report.downloaded
        assert [("bad", "http_403")] == [(f.submission_id, f.reason) for f in report.failed]
        assert "same URL" in report.failed[0].message
        assert "signature" not in report.failed[0].message
        bad_path = urlsplit(bad.url).path
        assert 2 == sum(1 for r in emulator.requests if r.path == bad_path)
        assert [] == temp_files(dest)

    @pytest.mark.parametrize(
        "url",
        ["ftp://127.0.0.1/photo.jpg", "http://127.0.0.1:99999/photo.jpg", "http:///photo.jpg"],
        ids=["scheme", "port", "no-host"],
    )
    async def test_a_url_no_client_can_fetch_fails_that_file_alone(
        self, client: Any, emulator: Any, dest: Path, url: str
    ) -> None:
        """A provider's unusable URL fails its file as bad_url; the other files arrive."""
        subs, photos = await signed_files(client, emulator, 1)
        bad = RemoteFile(id="bad", url=url)
        good = RemoteFile(id="good", url=subs[0].download_url)

        report = await archive(
            None, dest, source=SignedURLSource.from_files([bad, good]), backoff=0.01
        )

        assert 1 == report.downloaded
        assert [("bad", "bad_url")] == [(f.submission_id, f.reason) for f in report.failed]
        assert set(photos.values()) == set(files_under(dest).values())
        assert [] == temp_files(dest)

    async def test_urls_close_to_expiry_are_refreshed_before_use(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """URLs with less than the margin left are re-signed first, once for the batch."""
        subs, _ = await signed_files(client, emulator, 5)
        calls = 0

        async def sign() -> list[RemoteFile]:
            nonlocal calls
            calls += 1
            if calls == 1:
                # A slow signer: of the 1.4 s these URLs live, 1.1 s are gone on arrival.
                await anyio.sleep(1.1)
            expires = time.time() + (0.3 if calls == 1 else 3600)
            return [RemoteFile(id=s.id, url=s.download_url, expires_at=expires) for s in subs]

        class AnySource:
            """Any object with ``batches()`` is a source."""

            async def batches(self) -> AsyncIterator[Batch]:
                async for batch in SignedURLSource.from_refreshers({"album": sign}).batches():
                    yield batch

        report = await archive(None, dest, source=AnySource(), refresh_margin=30.0)

        assert report.ok
        assert 5 == report.downloaded
        assert 2 == calls
        assert 5 == len(files_under(dest))

    async def test_destination_busy(self, client: Any, emulator: Any, dest: Path) -> None:
        """Two runs cannot write to the same destination at once."""
        subs, _ = await signed_files(client, emulator, 1)
        files = [RemoteFile(id="one", url=subs[0].download_url)]
        emulator.faults.delay(0.5, path="/storage/")
        started = anyio.Event()

        def on_progress(event: ProgressEvent) -> None:
            if event.kind == "file_started":
                started.set()

        async def first() -> None:
            source = SignedURLSource.from_files(files)
            await archive(None, dest, source=source, on_progress=on_progress)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await started.wait()
            with pytest.raises(ArchiveError) as info:
                await archive(None, dest, source=SignedURLSource.from_files(files))

        assert "destination_busy" == info.value.reason
        assert 1 == len(files_under(dest))

    async def test_storage_requests_carry_no_api_key(self, client: Any, dest: Path) -> None:
        """The client's pool is reused for storage, without the API key or any auth header."""
        seen: list[dict[str, str]] = []

        async def photo(request: web.Request) -> web.Response:
            seen.append(dict(request.headers))
            return web.Response(body=sample_jpeg(3_000), content_type="image/jpeg")

        app = web.Application()
        app.router.add_get("/photo.jpg", photo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            files = [RemoteFile(id="p", url=f"http://127.0.0.1:{port}/photo.jpg?sig=1")]
            report = await archive(client, dest, source=SignedURLSource.from_files(files))
        finally:
            await runner.cleanup()

        assert report.ok
        assert 1 == len(seen)
        names = {k.lower() for k in seen[0]}
        assert "x-api-key" not in names
        assert "authorization" not in names
        assert "identity" == seen[0]["Accept-Encoding"]

    def test_remote_file_requires_id_and_url(self) -> None:
        """RemoteFile is keyword-only with two required fields."""
        with pytest.raises(TypeError):
            RemoteFile()  # type: ignore[call-arg]
