"""A manifest that never lies: after any stop every file on disk is recorded and counted."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, seed, temp_files

import visiono_async
from tests.children import child_env, python_child
from visiono_async.download import (
    ArchiveError,
    ProgressEvent,
    RemoteFile,
    archive,
    iter_archive,
    read_manifest,
)
from visiono_async.download._manifest import Manifest
from visiono_async.download._record import ArchivedFile

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and mounts")
ROOT = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="mounting a tmpfs needs root"
)


def storage_gets(emulator: Any) -> int:
    return int(emulator.count("GET", "/storage/"))


async def assert_manifest_is_disk(dest: Path) -> int:
    """Every file under a final name has its row, and every row its file; the count."""
    assert [] == temp_files(dest)
    rows = {e.path for e in await read_manifest(dest)}
    assert set(files_under(dest)) == rows
    return len(rows)


class TestStops:
    async def test_a_raising_progress_callback_leaves_no_unrecorded_file(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A callback that raises mid-run stops it; what reached disk is in the manifest."""
        seeded = await seed(client, emulator, 12)
        seen = 0

        def callback(event: ProgressEvent) -> None:
            nonlocal seen
            if event.kind == "bytes":
                seen += 1
                if seen == 4:
                    raise RuntimeError("the progress display broke")

        with pytest.raises(RuntimeError, match="display broke"):
            await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=4,
                on_progress=callback,
            )

        recorded = await assert_manifest_is_disk(dest)
        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])
        assert (recorded, 12 - recorded) == (report.skipped, report.downloaded)

    @pytest.mark.parametrize("after", [1, 3, 7])
    async def test_cancellation_leaves_no_unrecorded_file(
        self, client: Any, emulator: Any, dest: Path, after: int
    ) -> None:
        """Cancelling the task at any point: every file on disk is recorded."""
        seeded = await seed(client, emulator, 16, sizes=[8_000] * 16)
        done = 0

        with anyio.CancelScope() as scope:

            def callback(event: ProgressEvent) -> None:
                nonlocal done
                if event.kind == "file_done":
                    done += 1
                    if done == after:
                        scope.cancel()

            await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                concurrency=16,
                on_progress=callback,
            )
        assert scope.cancelled_caught

        recorded = await assert_manifest_is_disk(dest)
        assert recorded >= after
        before = storage_gets(emulator)
        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])
        assert (recorded, 16 - recorded) == (report.skipped, report.downloaded)
        assert 16 - recorded == storage_gets(emulator) - before

    async def test_a_busy_destination_error_carries_a_report(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Even an error before the first file says what happened (nothing): report is set."""
        seeded = await seed(client, emulator, 1)
        async with iter_archive(client, dest, photo_requests=[seeded.photo_request_id]) as ev:
            async for event in ev:
                if event.kind == "file_started":
                    with pytest.raises(ArchiveError) as info:
                        await archive(client, dest, photo_requests=[seeded.photo_request_id])
                    break
        assert "destination_busy" == info.value.reason
        assert info.value.report is not None
        assert (0, 0, []) == (
            info.value.report.downloaded,
            info.value.report.skipped,
            info.value.report.failed,
        )


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A real, small file system at ``path`` (unmounted afterwards)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@ROOT
class TestRealFullDisk:
    async def test_a_full_tmpfs_leaves_every_file_recorded_and_counted(
        self, client: Any, emulator: Any, tmp_path: Path
    ) -> None:
        """ENOSPC from the kernel: files on disk == manifest rows == report.downloaded."""
        seeded = await seed(client, emulator, 20, sizes=[40_000] * 20)
        with tmpfs(tmp_path / "small", 600_000) as mount:
            dest = mount / "archive"
            with pytest.raises(ArchiveError) as info:
                await archive(client, dest, photo_requests=[seeded.photo_request_id], concurrency=6)
            error = info.value
            assert "disk_full" == error.reason
            assert error.report is not None
            recorded = await assert_manifest_is_disk(dest)
            assert 0 < recorded < 20
            assert recorded == error.report.downloaded

            await anyio.run_process(["mount", "-o", "remount,size=4000000", str(mount)])
            before = storage_gets(emulator)
            report = await archive(client, dest, photo_requests=[seeded.photo_request_id])
            assert (recorded, 20 - recorded) == (report.skipped, report.downloaded)
            assert 20 - recorded == storage_gets(emulator) - before
            assert 20 == await assert_manifest_is_disk(dest)


async def child_archive(
    dest: Path, base_url: str, api_key: str, photo_request_id: str, sig: int, after: int
) -> int | None:
    """``visiono archive`` in a child; ``sig`` once ``after`` photos are on disk."""
    env = child_env(
        PYTHONPATH=str(Path(visiono_async.__file__).parent.parent), VISIONO_API_KEY=api_key
    )
    command = [
        "-m", "visiono_async", "archive", str(dest), "--photo-request", photo_request_id,
        "--base-url", base_url, "--concurrency", "4", "--quiet",
    ]  # fmt: skip
    async with python_child(*command, env=env) as process:
        for _ in range(1000):
            if len([p for p in files_under(dest) if p.endswith(".jpg")]) >= after:
                break
            await anyio.sleep(0.02)
        process.send_signal(sig)
        with anyio.fail_after(20):
            return await process.wait()


@POSIX
class TestKilled:
    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
    async def test_next_run_fetches_only_what_is_not_on_disk(
        self, client: Any, emulator: Any, api_key: str, dest: Path, sig: int
    ) -> None:
        """After Ctrl-C or kill -9 the next run downloads exactly the files not on disk."""
        seeded = await seed(client, emulator, 16, sizes=[10_000] * 16)
        emulator.faults.delay(0.3, path="/storage/")

        await child_archive(dest, emulator.base_url, api_key, seeded.photo_request_id, sig, after=3)

        emulator.faults.clear()
        if sig == signal.SIGINT:
            await assert_manifest_is_disk(dest)
        on_disk = {p for p in files_under(dest) if p.endswith(".jpg")}
        before = storage_gets(emulator)
        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])
        assert report.ok
        assert 16 - len(on_disk) == storage_gets(emulator) - before
        assert (len(on_disk), 16 - len(on_disk)) == (report.skipped, report.downloaded)
        assert 16 == await assert_manifest_is_disk(dest)


def manifest_path(dest: Path) -> Path:
    return dest / ".visiono" / "manifest.sqlite3"


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"this is not a database!" + data[23:])


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3 + 100])


def _garbage_body(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(100, len(data), 7):
        data[i] = (data[i] * 31 + 17) % 256
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('somebody else''s database')")
    conn.commit()
    conn.close()


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE = {
    "empty": _empty,
    "garbage-header": _garbage_header,
    "truncated": _truncated,
    "garbage-body": _garbage_body,
    "foreign": _foreign,
    "directory": _directory,
}


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the main file so that damage to the file is damage to the data."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


class TestDamagedManifest:
    @pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
    async def test_damage_is_a_clear_error_before_any_download(
        self, client: Any, emulator: Any, dest: Path, damage: str
    ) -> None:
        """ArchiveError naming the manifest and the damage; nothing fetched, nothing replaced."""
        seeded = await seed(client, emulator, 8, sizes=[30_000] * 8)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        path = manifest_path(dest)
        _checkpoint(path)
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        DAMAGE[damage](path)
        before = storage_gets(emulator)
        mtimes = {p: (dest / p).stat().st_mtime_ns for p in files_under(dest)}

        with pytest.raises(ArchiveError) as info:
            await archive(client, dest, photo_requests=[seeded.photo_request_id])

        error = info.value
        assert "manifest_damaged" == error.reason
        assert str(path) in str(error)
        assert "rebuild" in str(error)
        assert error.report is not None
        assert before == storage_gets(emulator)
        assert mtimes == {p: (dest / p).stat().st_mtime_ns for p in files_under(dest)}

    @ROOT
    async def test_an_immutable_manifest_is_a_clear_error(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """chattr +i on the manifest: ArchiveError naming it, not a raw sqlite3 error."""
        seeded = await seed(client, emulator, 2)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        path = manifest_path(dest)
        _checkpoint(path)
        emulator.faults.clear()
        await seed(client, emulator, 1)  # something new to record
        await anyio.run_process(["chattr", "+i", str(path)])
        try:
            with pytest.raises(ArchiveError) as info:
                await archive(client, dest)
        finally:
            await anyio.run_process(["chattr", "-i", str(path)])
        assert info.value.reason in {"manifest_damaged", "manifest_unwritable"}
        assert str(path) in str(info.value)
        assert info.value.report is not None
        await assert_manifest_is_disk(dest)

    async def test_rebuilding_records_files_already_on_disk(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Moving a damaged manifest away and re-running fetches nothing already on disk."""
        seeded = await seed(client, emulator, 5)
        flat = "{submission_id}{ext}"
        await archive(client, dest, photo_requests=[seeded.photo_request_id], template=flat)
        path = manifest_path(dest)
        _checkpoint(path)
        path.unlink()
        before = storage_gets(emulator)

        # Visiono announces sizes in KiB: a file on disk is taken when its size fits that
        # and its bytes are the announced type.
        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], template=flat
        )

        assert (5, 0) == (report.skipped, report.downloaded)
        assert before == storage_gets(emulator)
        entries = await read_manifest(dest)
        assert {seeded.sha256(e.submission_id or "") for e in entries} == {
            e.sha256 for e in entries
        }

    async def test_rebuilding_looks_in_each_folder_and_fetches_what_is_gone(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A rebuilt manifest takes back the files of a folder still there and fetches
        those of a folder removed (each folder is looked at once, not each file)."""
        kept = await seed(client, emulator, 3)
        gone = await seed(client, emulator, 2)
        ids = [kept.photo_request_id, gone.photo_request_id]
        await archive(client, dest, photo_requests=ids)
        path = manifest_path(dest)
        _checkpoint(path)
        path.unlink()
        shutil.rmtree(dest / gone.photo_request_id)
        before = storage_gets(emulator)

        report = await archive(client, dest, photo_requests=ids)

        assert (3, 2) == (report.skipped, report.downloaded)
        assert 2 == storage_gets(emulator) - before
        assert 5 == await assert_manifest_is_disk(dest)

    async def test_a_fresh_destination_is_not_searched_but_an_old_folder_is(
        self, client: Any, emulator: Any, dest: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only files that may predate the run are looked for on disk: none in a fresh
        destination (no thread job per batch), those of a folder already there otherwise,
        and a file copied in by hand there is taken back, not fetched."""
        from visiono_async.download import _pipeline

        looked: list[list[str]] = []
        real = _pipeline.reconcile

        def counting(root: str, manifest: Any, batch: str, todo: Any) -> Any:
            looked.append(sorted(rel for _, rel in todo))
            return real(root, manifest, batch, todo)

        monkeypatch.setattr(_pipeline, "reconcile", counting)
        first = await seed(client, emulator, 2)
        second = await seed(client, emulator, 2)
        await archive(client, dest, photo_requests=[first.photo_request_id])
        assert [] == looked
        # A copy of the second batch's files, made by another tool.
        other = dest.parent / "copy"
        await archive(client, other, photo_requests=[second.photo_request_id])
        shutil.copytree(other / second.photo_request_id, dest / second.photo_request_id)
        before = storage_gets(emulator)

        report = await archive(
            client, dest, photo_requests=[first.photo_request_id, second.photo_request_id]
        )

        assert 1 == len(looked)  # the first batch is recorded: nothing to look for
        assert all(rel.startswith(f"{second.photo_request_id}/") for rel in looked[0])
        assert (4, 0) == (report.skipped, report.downloaded)
        assert before == storage_gets(emulator)


class TestCLIExitCodes:
    async def test_damaged_manifest_exits_two(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``visiono archive`` on a damaged manifest: message on stderr, exit 2."""
        from visiono_async.cli import build_parser

        seeded = await seed(client, emulator, 1)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        path = manifest_path(dest)
        _checkpoint(path)
        _empty(path)
        args = build_parser().parse_args(
            ["archive", str(dest), "--photo-request", seeded.photo_request_id,
             "--api-key", api_key, "--base-url", emulator.base_url, "--quiet"]
        )  # fmt: skip

        code = await args.func(args)

        assert 2 == code
        err = capsys.readouterr().err
        assert str(path) in err
        assert "Traceback" not in err


class TestEventStream:
    async def test_events_wait_for_a_slow_reader(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """A reader that does not keep up holds the run back; the buffer stays bounded."""
        seeded = await seed(client, emulator, 20, sizes=[5_000] * 20)

        async with iter_archive(
            client, dest, photo_requests=[seeded.photo_request_id], concurrency=2, buffer=8
        ) as events:
            first = await events.__anext__()
            for _ in range(2000):
                if events.buffered >= events.max_buffered:
                    break
                await anyio.sleep(0.005)
            assert events.buffered >= events.max_buffered
            paused_at = storage_gets(emulator)
            assert paused_at < 20
            kinds = [first.kind] + [event.kind async for event in events]

        assert events.report is not None
        assert 20 == events.report.downloaded == kinds.count("file_done")
        # New files wait while the buffer is full; files in flight may add a few events.
        assert events.peak <= events.max_buffered + 4 * 2


class TestManifestRows:
    async def test_a_large_group_is_recorded_row_for_row(self, tmp_path: Path) -> None:
        """Rows go in 64 to a statement: groups around that boundary keep every value."""
        state = tmp_path / ".visiono"
        state.mkdir()
        manifest = await Manifest.open(str(state))
        try:
            made: list[ArchivedFile] = []
            for size in (1, 63, 64, 65, 129, 150):
                group = [_archived(len(made) + i) for i in range(size)]
                manifest.commit(group)
                made += group
            # The same id again in one group: the later row wins, as one row.
            again = _archived(0, path="again/sub_0.jpg")
            manifest.commit([_archived(0, path="first/sub_0.jpg"), again])
        finally:
            await manifest.aclose()
        expected = {a.file.id: a for a in made} | {again.file.id: again}

        entries = await read_manifest(tmp_path)

        assert sorted(expected) == sorted(e.id for e in entries)
        for entry in entries:
            a = expected[entry.id]
            assert (entry.path, entry.bytes, entry.sha256) == (a.path, a.bytes, a.sha256)
            assert (entry.submission_id, entry.photo_request_id) == (a.file.id, a.batch)
            assert (entry.latitude, entry.submitted_at) == (a.file.latitude, "2026-12-01T10:00:00Z")


def _archived(n: int, *, path: str | None = None) -> ArchivedFile:
    file = RemoteFile(
        id=f"sub_{n}",
        url=f"https://storage.example/{n}",
        submission_id=f"sub_{n}",
        photo_request_id=f"pr_{n % 7}",
        latitude=n / 1000,
        submitted_at="2026-12-01T10:00:00Z",
    )
    return ArchivedFile(
        file=file,
        batch=f"pr_{n % 7}",
        path=path or f"pr_{n % 7}/sub_{n}.jpg",
        bytes=1000 + n,
        sha256=f"{n:064x}",
        mime_type="image/jpeg",
    )


class TestVerify:
    async def test_lists_missing_changed_untracked_and_the_next_run_fetches_just_those(
        self, client: Any, emulator: Any, dest: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """verify finds each kind; archive then fetches exactly the missing and changed."""
        from visiono_async.cli import build_parser
        from visiono_async.download import verify_archive

        seeded = await seed(client, emulator, 6, sizes=[20_000] * 6)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        paths = sorted(files_under(dest))
        gone, flipped = paths[0], paths[1]
        (dest / gone).unlink()
        data = bytearray((dest / flipped).read_bytes())
        data[-10] ^= 0xFF  # same size, other bytes: only the hash can tell
        (dest / flipped).write_bytes(bytes(data))
        (dest / "notes.txt").write_text("mine")

        report = await verify_archive(dest)

        assert not report.ok
        assert ([gone], [flipped], ["notes.txt"]) == (
            report.missing,
            report.changed,
            report.untracked,
        )
        assert 6 == report.checked
        args = build_parser().parse_args(["verify", str(dest), "--quiet"])
        assert 1 == await args.func(args)
        out = capsys.readouterr().out
        assert f"missing: {gone}" in out
        assert f"changed: {flipped}" in out

        before = storage_gets(emulator)
        again = await archive(client, dest, photo_requests=[seeded.photo_request_id])
        assert (2, 4) == (again.downloaded, again.skipped)
        assert 2 == storage_gets(emulator) - before
        (dest / "notes.txt").unlink()
        final = await verify_archive(dest)
        assert final.ok
        assert 0 == await args.func(args)

    async def test_reports_progress_and_needs_a_manifest(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Progress per file with byte totals; no manifest is an ArchiveError, exit 2."""
        from visiono_async.cli import build_parser
        from visiono_async.download import verify_archive

        with pytest.raises(ArchiveError) as info:
            await verify_archive(dest)
        assert "manifest_missing" == info.value.reason
        args = build_parser().parse_args(["verify", str(dest), "--quiet"])
        assert 2 == await args.func(args)

        seeded = await seed(client, emulator, 3)
        await archive(client, dest, photo_requests=[seeded.photo_request_id])
        events: list[ProgressEvent] = []
        report = await verify_archive(dest, on_progress=events.append)
        assert report.ok
        assert ["file_done"] * 3 + ["finished"] == [e.kind for e in events]
        total = sum(len(p) for p in seeded.photos.values())
        assert (total, total) == (events[-1].bytes_done, events[-1].bytes_total)
