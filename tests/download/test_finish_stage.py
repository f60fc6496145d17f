"""The finish-and-record stage seen from the workers: they hand a fetched file in and go on
to their next one, within a bounded room, and a stop never loses a file handed in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import anyio
from archive_helpers import files_under, seed, temp_files

from visiono_async.download import FetchSettings, archive, read_manifest
from visiono_async.download._pipeline import _ROOM_PER_WORKER as ROOM

_GATE_TIMEOUT = 20.0
"""How long a gated open waits for the test at most (a failing test must not hang)."""


class GatedDisk:
    """An opener whose opens wait until the test opens the gate (a stalled disk: an NFS
    server that does not answer). Opens run in the finisher's worker thread, so the event
    loop stays free to fetch while they wait."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.opens = 0
        self.released_in_time: list[bool] = []

    def open(self, path: str) -> BinaryIO:
        self.opens += 1
        self.released_in_time.append(self.gate.wait(_GATE_TIMEOUT))
        return open(path, "xb")


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - the emulator's log has no event to wait on
            await anyio.sleep(0.005)


def storage_gets(emulator: Any) -> int:
    return len([r for r in emulator.requests if "/storage/" in r.path])


async def archive_into(
    reports: list[Any], client: Any, dest: Path, seeded: Any, concurrency: int, disk: GatedDisk
) -> None:
    """One archive run of ``seeded``'s photo request on ``disk``; its report into ``reports``."""
    reports.append(
        await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            concurrency=concurrency,
            settings=FetchSettings(opener=disk.open),
        )
    )


class TestWorkersMoveOn:
    async def test_a_worker_fetches_its_next_file_while_the_last_is_finished(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """One worker: the second file's GET goes out while the first file is still being
        finished (its open stalls); before, the worker waited for the rename first."""
        seeded = await seed(client, emulator, 3, sizes=[30_000] * 3)
        disk = GatedDisk()
        report: list[Any] = []

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(archive_into, report, client, dest, seeded, 1, disk)
                await until(lambda: disk.opens == 1)
                await until(lambda: storage_gets(emulator) >= 2)
                disk.gate.set()
        finally:
            disk.gate.set()

        assert [True, True, True] == disk.released_in_time
        assert (3, []) == (report[0].downloaded, report[0].failed)
        assert 3 == len(files_under(dest))

    async def test_a_stalled_disk_holds_the_fetches_back(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """While the disk stalls, at most ``_ROOM_PER_WORKER x concurrency`` files wait to be
        finished and each worker holds one more, then nothing starts until the disk answers."""
        held = (ROOM + 1) * 2
        seeded = await seed(client, emulator, held + 4, sizes=[20_000] * (held + 4))
        disk = GatedDisk()
        report: list[Any] = []

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(archive_into, report, client, dest, seeded, 2, disk)
                await until(lambda: storage_gets(emulator) == held)
                # Nothing more may start: a wrong bound shows as one GET more in this time.
                await anyio.sleep(0.3)
                assert held == storage_gets(emulator)
                assert 1 == disk.opens  # the first group is in its thread, stalled
                disk.gate.set()
        finally:
            disk.gate.set()

        assert (held + 4, []) == (report[0].downloaded, report[0].failed)
        assert held + 4 == storage_gets(emulator)
        entries = await read_manifest(dest)
        assert {e.path for e in entries} == set(files_under(dest))

    async def test_a_stop_while_waiting_for_room_keeps_what_was_handed_in(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Cancelled with the room full (the first file's disk stalled) and one more file
        waiting for room: those handed in are still finished and recorded, the waiting one
        leaves nothing behind, and a re-run fetches only what is missing."""
        seeded = await seed(client, emulator, ROOM + 3, sizes=[20_000] * (ROOM + 3))
        disk = GatedDisk()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(archive_into, [], client, dest, seeded, 1, disk)
                # File 1 in the stalled finisher with the room full, one more fetched and
                # waiting for room.
                await until(lambda: disk.opens == 1 and storage_gets(emulator) == ROOM + 1)
                tg.cancel_scope.cancel()
                disk.gate.set()  # the disk answers while the run is stopping
        finally:
            disk.gate.set()

        on_disk = files_under(dest)
        entries = await read_manifest(dest)
        assert ROOM == len(on_disk)
        assert {e.path for e in entries} == set(on_disk)
        assert [] == temp_files(dest)

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert (3, ROOM) == (report.downloaded, report.skipped)
        assert ROOM + 3 == len(files_under(dest))
