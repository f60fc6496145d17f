"""archive(shared_dest=True): several runs in one destination, each file fetched and written once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.download.archive_helpers import files_under, seed
from visiono_async.download import ArchiveError, read_manifest
from visiono_async.download._claims import SharedDestination
from visiono_async.download._destination import lock_exclusive
from visiono_async.download._manifest import STATE_DIR


def storage_gets(emulator: Any) -> int:
    return sum(1 for r in emulator.requests if not r.api and r.method == "GET")


class TestSharedDestination:
    async def test_concurrent_runs_fetch_and_write_every_file_once(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """Four runs of the same two photo requests at once: each photo fetched once, on
        disk once with its bytes, one manifest row each."""
        first = await seed(client, emulator, 6)
        second = await seed(client, emulator, 5)
        photos = {**first.photos, **second.photos}
        ids = [first.photo_request_id, second.photo_request_id]
        emulator.faults.delay(0.05, path="/storage/")  # the runs overlap while fetching
        reports: list[Any] = []

        async def run() -> None:
            reports.append(
                await client.archive(tmp_path, photo_requests=ids, shared_dest=True, concurrency=3)
            )

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(run)
        on_disk = files_under(tmp_path)
        rows = await read_manifest(tmp_path)
        assert 11 == storage_gets(emulator)
        assert 11 == sum(r.downloaded for r in reports)
        assert 33 == sum(r.skipped for r in reports)
        assert sorted(photos.values()) == sorted(on_disk.values())
        assert sorted(photos) == sorted(r.submission_id for r in rows)
        assert {r.path for r in rows} == set(on_disk)
        assert [] == os.listdir(tmp_path / STATE_DIR / "tmp")

    async def test_an_exclusive_run_and_shared_runs_exclude_each_other(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """While a shared run holds dest an exclusive one is refused, and the other way round."""
        seeded = await seed(client, emulator, 1)
        await client.archive(tmp_path, photo_requests=[seeded.photo_request_id])
        state = str(tmp_path / STATE_DIR)
        joined = await SharedDestination.open(state)
        try:
            with pytest.raises(ArchiveError) as info:
                await client.archive(tmp_path, photo_requests=[seeded.photo_request_id])
            assert "destination_busy" == info.value.reason
            again = await SharedDestination.open(state)  # shared beside shared is fine
            again.close()
        finally:
            joined.close()
        lock = lock_exclusive(state)
        try:
            with pytest.raises(ArchiveError) as refused:
                await client.archive(
                    tmp_path, photo_requests=[seeded.photo_request_id], shared_dest=True
                )
        finally:
            os.close(lock)
        assert "destination_busy" == refused.value.reason

    async def test_a_dead_runs_temp_folder_is_removed_by_the_next(self, tmp_path: Path) -> None:
        """A shared run's temp folder outlives a crash only until the next shared run starts."""
        state = tmp_path / STATE_DIR
        (state / "tmp" / "run-1-dead").mkdir(parents=True)
        (state / "tmp" / "run-1-dead" / "half.part").write_bytes(b"x" * 10)
        (state / "tmp" / "run-1-dead.lock").write_bytes(b"")
        alive = await SharedDestination.open(str(state))
        (Path(alive.tmp_dir) / "in-flight.part").write_bytes(b"y")
        later = await SharedDestination.open(str(state))
        try:
            assert not (state / "tmp" / "run-1-dead").exists()
            assert (Path(alive.tmp_dir) / "in-flight.part").exists()  # a live run's stay
        finally:
            later.close()
            alive.close()
        assert [] == os.listdir(state / "tmp")

    async def test_a_claimed_file_waits_for_its_holder(self, tmp_path: Path) -> None:
        """A second claim on one file waits until the first is let go."""
        state = tmp_path / STATE_DIR
        state.mkdir()
        one, two = (
            await SharedDestination.open(str(state)),
            await SharedDestination.open(str(state)),
        )
        order: list[str] = []

        async def second() -> None:
            async with two.claim("ps_1") as archived:
                assert archived is None
                order.append("second")

        try:
            async with anyio.create_task_group() as tg, one.claim("ps_1") as archived:
                assert archived is None
                tg.start_soon(second)
                await anyio.sleep(0.1)
                order.append("first done")
            assert ["first done", "second"] == order
        finally:
            one.close()
            two.close()

    async def test_the_command_line_shares_a_destination_with_shared(
        self, client: Any, emulator: Any, api_key: str, tmp_path: Path
    ) -> None:
        """Two `visiono archive --shared` runs at once both succeed, each photo written once."""
        from visiono_async.cli import build_parser

        seeded = await seed(client, emulator, 4)
        emulator.faults.delay(0.05, path="/storage/")
        argv = [
            "archive", str(tmp_path), "--photo-request", seeded.photo_request_id,
            "--api-key", api_key, "--base-url", emulator.base_url, "--quiet", "--shared",
        ]  # fmt: skip
        codes: list[int] = []

        async def run() -> None:
            args = build_parser().parse_args(argv)
            codes.append(await args.func(args))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            tg.start_soon(run)
        assert [0, 0] == codes
        assert 4 == storage_gets(emulator)
        assert sorted(seeded.photos.values()) == sorted(files_under(tmp_path).values())
