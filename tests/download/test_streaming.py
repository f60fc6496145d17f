"""How bodies reach the disk: chunked and multi-chunk bodies, short writes, temp names."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from aiohttp import web
from archive_helpers import files_under, seed, temp_files

from visiono_async.download import (
    FetchSettings,
    RemoteFile,
    SignedURLSource,
    VisionoSource,
    archive,
    read_manifest,
)
from visiono_async.testing import sample_jpeg

PHOTO = sample_jpeg(300_000, seed=7)


@pytest.fixture
async def chunked_origin() -> AsyncIterator[str]:
    """A storage server that streams ``/photo.jpg`` with chunked transfer encoding."""

    async def photo(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        step = int(request.query.get("step", "7000"))
        for start in range(0, len(PHOTO), step):
            await response.write(PHOTO[start : start + step])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/photo.jpg", photo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class _ShortWrites:
    """An unbuffered file whose writes take at most ``limit`` bytes at a time."""

    def __init__(self, path: str, limit: int) -> None:
        self._raw = open(path, "xb", buffering=0)  # noqa: SIM115 - closed by the pipeline
        self._limit = limit
        self.calls = 0

    def write(self, data: bytes) -> int:
        self.calls += 1
        return self._raw.write(memoryview(data)[: self._limit])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class TestBodies:
    @pytest.mark.parametrize("step", [97, 7000, 300_000], ids=["97B", "7kB", "whole"])
    async def test_chunked_bodies_arrive_whole(
        self, chunked_origin: str, dest: Path, step: int
    ) -> None:
        """A body without Content-Length, in HTTP chunks of any size, is stored intact."""
        files = [
            RemoteFile(
                id="p", url=f"{chunked_origin}/photo.jpg?step={step}", mime_type="image/jpeg"
            )
        ]

        report = await archive(
            None, dest, source=SignedURLSource.from_files(files), chunk_size=64 * 1024
        )

        assert report.ok
        (entry,) = await read_manifest(dest)
        assert PHOTO == (dest / entry.path).read_bytes()
        assert hashlib.sha256(PHOTO).hexdigest() == entry.sha256
        assert len(PHOTO) == entry.bytes == report.bytes

    async def test_many_chunks_and_a_sidecar_hash_the_whole_file(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Files written over many thread hops get the SHA-256 of all their bytes."""
        seeded = await seed(client, emulator, 3, sizes=[1 << 20, 200_000, 5_000])

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            chunk_size=64 * 1024,
            sidecar=True,
        )

        assert report.ok
        on_disk = files_under(dest)
        for entry in await read_manifest(dest):
            sub = entry.submission_id
            assert sub is not None
            assert seeded.photos[sub] == on_disk[entry.path]
            assert seeded.sha256(sub) == entry.sha256
            sidecar = json.loads(on_disk[entry.path + ".json"])
            assert (entry.sha256, entry.bytes) == (sidecar["sha256"], sidecar["bytes"])
        assert [] == temp_files(dest)

    async def test_short_writes_are_completed(self, client: Any, emulator: Any, dest: Path) -> None:
        """A file object that writes less than it was given still gets every byte."""
        seeded = await seed(client, emulator, 2, sizes=[300_000, 40_000])
        opened: list[_ShortWrites] = []

        def opener(path: str) -> BinaryIO:
            file = _ShortWrites(path, 10_000)
            opened.append(file)
            return file  # type: ignore[return-value]

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            settings=FetchSettings(opener=opener, chunk_size=128 * 1024),
        )

        assert report.ok
        assert set(seeded.photos.values()) == set(files_under(dest).values())
        assert sum(f.calls for f in opened) >= (300_000 + 40_000) // 10_000


class TestResume:
    async def test_a_resume_answered_in_full_starts_the_file_over(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A server that ignores Range after a cut body gets its whole answer stored once."""
        seeded = await seed(client, emulator, 1, sizes=[600_000])
        ((sub_id, photo),) = seeded.photos.items()
        emulator.faults.cut_body(400_000, path="/storage/")
        emulator.faults.fail_next(
            1, status=200, path="/storage/", body=photo, content_type="image/jpeg"
        )

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            chunk_size=64 * 1024,
            backoff=0.01,
        )

        assert report.ok
        gets = [r for r in emulator.requests if "/storage/" in r.path]
        assert 2 == len(gets)
        assert gets[1].range is not None  # the resume that was answered with everything
        (entry,) = await read_manifest(dest)
        assert photo == (dest / entry.path).read_bytes()
        assert seeded.sha256(sub_id) == entry.sha256
        assert [] == temp_files(dest)


class TestVariants:
    @pytest.mark.parametrize(
        ("variant", "expected"),
        [
            ("original", {".jpg"}),
            ("thumbnail", {".thumbnail.jpg"}),
            ("both", {".jpg", ".thumbnail.jpg"}),
        ],
    )
    async def test_only_the_chosen_variants_are_fetched(
        self, client: Any, emulator: Any, dest: Path, variant: Any, expected: set[str]
    ) -> None:
        """Storage sees requests for the chosen variants only, and the counts agree."""
        seeded = await seed(client, emulator, 3)

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], variant=variant
        )

        assert report.ok
        on_disk = files_under(dest)
        assert 3 * len(expected) == report.downloaded == len(on_disk)
        assert expected == {
            ".thumbnail.jpg" if p.endswith(".thumbnail.jpg") else ".jpg" for p in on_disk
        }
        assert 3 * len(expected) == emulator.count("GET", "/storage/")

    async def test_visiono_batches_hold_only_the_chosen_variants(
        self, client: Any, emulator: Any
    ) -> None:
        """A source asked for originals does not build thumbnail files at all."""
        seeded = await seed(client, emulator, 2)
        source = VisionoSource(
            client, photo_requests=[seeded.photo_request_id], variants={"original"}
        )

        batches = [batch async for batch in source.batches()]
        files = list(await batches[0].fetch())

        assert {"original"} == {f.variant for f in files}
        assert set(seeded.photos) == {f.id for f in files}
