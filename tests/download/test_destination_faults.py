"""A full disk and a file-size limit: clear errors, no temp files, a consistent manifest."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import Disk, files_under, seed, temp_files

import visiono_async
from visiono_async.download import ArchiveError, FetchSettings, archive, read_manifest
from visiono_async.download._destination import Destination, lock_exclusive, prepare
from visiono_async.download._pipeline import _ROOM_PER_WORKER as ROOM


class TestFullDisk:
    async def test_disk_full_stops_the_run_cleanly(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """ENOSPC stops the run with reason disk_full; what was archived stays recorded."""
        count = 3 + ROOM + 3  # more than can be fetched before the stop
        seeded = await seed(client, emulator, count, sizes=[30_000] * count)
        disk = Disk(free=70_000)

        with pytest.raises(ArchiveError) as info:
            await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=1,
                settings=FetchSettings(opener=disk.open),
            )

        error = info.value
        assert "disk_full" == error.reason
        assert "No space left" in str(error)
        # Once the run is stopping no queued file starts: the 3 up to the failing one, and
        # at most those the worker fetched while the failing one was being finished (a
        # worker hands a fetched file to the finisher and goes on to its next, while the
        # finisher has room: ROOM files for one worker, the failing one among them). Those
        # fail too if they were handed in before the stop, and are reported as such.
        fetched = len([r for r in emulator.requests if "/storage/" in r.path])
        assert 3 <= fetched <= 3 + ROOM
        assert error.report is not None
        assert 2 == error.report.downloaded
        failed = [f.reason for f in error.report.failed]
        assert ["disk_full"] * len(failed) == failed
        assert 1 <= len(failed) <= fetched - 2
        assert [] == temp_files(dest)
        on_disk = files_under(dest)
        entries = await read_manifest(dest)
        assert {e.path for e in entries} == set(on_disk)
        assert 2 == len(on_disk)
        assert set(on_disk.values()) <= set(seeded.photos.values())

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert (count - 2, 2) == (report.downloaded, report.skipped)
        assert count == len(files_under(dest))


_CHILD = """
import json, resource, signal, sys
import anyio
from visiono_async.download import RemoteFile, SignedURLSource, archive

limit, dest, spec = int(sys.argv[1]), sys.argv[2], json.loads(sys.stdin.read())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
files = [RemoteFile(id=f["id"], url=f["url"], size=f["size"], mime_type="image/jpeg",
                    fields={"submission_id": f["id"]}) for f in spec]

async def main():
    report = await archive(None, dest, source=SignedURLSource.from_files(files),
                           template="{submission_id}{ext}", concurrency=2)
    print(json.dumps({"downloaded": report.downloaded,
                      "failed": [[f.submission_id, f.reason] for f in report.failed]}))

anyio.run(main)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
class TestFileSizeLimit:
    async def test_real_write_error_fails_the_file_and_removes_its_temp(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A kernel write error (EFBIG under RLIMIT_FSIZE) on the real write path."""
        seeded = await seed(client, emulator, 3, sizes=[20_000, 300_000, 25_000])
        urls = await client.photo_requests.download_urls(seeded.photo_request_id)
        spec = [
            {"id": s.id, "url": s.download_url, "size": len(seeded.photos[s.id])}
            for s in urls.submissions
        ]
        big = next(s["id"] for s in spec if s["size"] == 300_000)
        package_root = str(Path(visiono_async.__file__).parent.parent)
        env = {**os.environ, "PYTHONPATH": package_root}

        result = await anyio.run_process(
            [sys.executable, "-c", _CHILD, "200000", str(dest)],
            input=json.dumps(spec).encode(),
            env=env,
            check=False,
        )

        assert 0 == result.returncode, result.stderr.decode()
        outcome = json.loads(result.stdout)
        assert 2 == outcome["downloaded"]
        assert [[big, "file_too_large"]] == outcome["failed"]
        assert [] == temp_files(dest)
        on_disk = files_under(dest)
        assert {f"{s['id']}.jpg" for s in spec if s["id"] != big} == set(on_disk)
        assert {e.path for e in await read_manifest(dest)} == set(on_disk)


class TestUnwritable:
    @pytest.mark.skipif(
        sys.platform == "win32" or os.geteuid() == 0,
        reason="root ignores permissions (test_unwritable_destination.py covers root with chattr +i)",
    )
    async def test_read_only_destination(self, client: Any, emulator: Any, dest: Path) -> None:
        """A destination without write permission is a clear error before any download."""
        seeded = await seed(client, emulator, 1)
        os.mkdir(dest)
        os.chmod(dest, 0o500)
        try:
            with pytest.raises(ArchiveError) as info:
                await archive(client, dest, photo_requests=[seeded.photo_request_id])
        finally:
            os.chmod(dest, 0o700)

        assert "destination_not_writable" == info.value.reason
        assert 0 == emulator.count("GET", "/storage/")

    async def test_folder_in_the_way_fails_that_file(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A folder already sitting at a file's final name fails that file, not the run."""
        seeded = await seed(client, emulator, 2)
        victim = next(iter(seeded.photos))
        blocker = dest / "flat" / f"{victim}.jpg"
        blocker.mkdir(parents=True)

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            template="flat/{submission_id}{ext}",
        )

        assert 1 == report.downloaded
        assert [(victim, "bad_path")] == [(f.submission_id, f.reason) for f in report.failed]
        assert [] == temp_files(dest)


class TestPrepareBesideARun:
    def test_a_run_cleaning_its_temp_folder_never_fails_another_runs_start(
        self, tmp_path: Path
    ) -> None:
        """prepare() proves the destination writable without a file in ``.visiono/tmp``,
        which a run holding the lock empties at its start and end: concurrent runs were
        refused as ``destination_not_writable`` ("No such file or directory") about one
        time in ten, instead of ``destination_busy``."""
        import threading

        from visiono_async.download._destination import clean_tmp

        root = str(tmp_path / "dest")
        tmp_dir = Destination(root).tmp_dir
        os.makedirs(tmp_dir)
        stop = threading.Event()

        def cleaner() -> None:
            while not stop.is_set():
                clean_tmp(tmp_dir)

        thread = threading.Thread(target=cleaner)
        thread.start()
        failures = []
        try:
            for _ in range(2000):
                try:
                    prepare(root)
                except ArchiveError as exc:
                    failures.append(str(exc))
        finally:
            stop.set()
            thread.join()
        assert [] == failures[:3]


class TestPredatesRun:
    def test_names_in_the_destination_when_the_run_began(self, tmp_path: Path) -> None:
        """A path may predate the run when its first component was there at the start,
        compared as a case-insensitive, normalising file system would (never missed)."""
        root = tmp_path / "dest"
        (root / "Pr_Old").mkdir(parents=True)
        (root / "loose.jpg").write_bytes(b"x")
        (root / "Cafe\u0301").mkdir()
        dest = prepare(str(root))
        (root / "pr_new").mkdir()  # made during the run: by the run itself

        assert dest.predates_run("Pr_Old/a.jpg")
        assert dest.predates_run("pr_old/a.jpg")
        assert dest.predates_run("loose.jpg")
        assert dest.predates_run("caf\u00e9/b.jpg")
        assert not dest.predates_run("pr_new/a.jpg")
        assert not dest.predates_run("pr_other/a.jpg")
        assert not dest.predates_run(".visiono/manifest.sqlite")

    def test_not_known_means_everything_may(self, tmp_path: Path) -> None:
        assert Destination(str(tmp_path)).predates_run("anything/at/all.jpg")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_second_exclusive_lock_is_refused_without_leaking_its_descriptor(
    tmp_path: Path,
) -> None:
    """The lock is taken in a worker thread and released by closing its descriptor; a
    refused attempt closes the descriptor it opened."""
    state = tmp_path / ".visiono"
    state.mkdir()
    held = lock_exclusive(str(state))
    try:
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(ArchiveError) as refused:
            lock_exclusive(str(state))
        assert "destination_busy" == refused.value.reason
        assert before == len(os.listdir("/proc/self/fd"))
    finally:
        os.close(held)
    os.close(lock_exclusive(str(state)))  # free again once closed
