"""No file-system call on the event-loop thread: a stalled disk (NFS) must not freeze it.

Python raises an audit event on the calling thread for each open, rename, remove, mkdir,
listing, lock and SQLite connection; a hook records those raised on the loop's thread
while an archive runs. ``os.stat``, ``os.write`` and ``os.close`` raise none: the finisher
and stall tests cover those paths.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, sample_jpeg, seed, temp_files
from test_body_pipe import Act, RawStorage, archive_raw

from visiono_async.download import archive, verify_archive

_WATCHED = frozenset(
    {
        "open",
        "os.rename",
        "os.remove",
        "os.mkdir",
        "os.rmdir",
        "os.scandir",
        "os.listdir",
        "os.chmod",
        "os.truncate",
        "os.link",
        "os.symlink",
        "shutil.rmtree",
        "fcntl.flock",
        "sqlite3.connect",
    }
)
_MODULES = (".py", ".pyc", ".so")  # a first import's module file: Python's, not ours
_calls: list[tuple[str, object]] = []
_watching: dict[str, int | None] = {"thread": None}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if (
        _watching["thread"] == threading.get_ident()
        and event in _WATCHED
        and not (args and str(args[0]).endswith(_MODULES))
    ):
        _calls.append((event, args[0] if args else None))


sys.addaudithook(_hook)  # for the life of the process: a hook cannot be removed


class _Watch:
    """Record the watched calls made on this thread (the event loop's) inside the block."""

    def __enter__(self) -> list[tuple[str, object]]:
        _calls.clear()
        _watching["thread"] = threading.get_ident()
        return _calls

    def __exit__(self, *_exc: object) -> None:
        _watching["thread"] = None


@pytest.mark.parametrize("shared_dest", [False, True], ids=["exclusive", "shared"])
async def test_an_archive_touches_the_disk_only_from_worker_threads(
    client: Any, emulator: Any, dest: Path, shared_dest: bool
) -> None:
    """Lock, temp files, folders, sidecars, renames, the manifest, a re-run's checks, the
    shared mode's claims and clean-up, and ``verify_archive``: none on the loop's thread."""
    seeded = await seed(client, emulator, 5)
    with _Watch() as calls:
        for _ in range(2):  # the second run finds everything recorded
            report = await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                sidecar=True,
                shared_dest=shared_dest,
            )
        check = await verify_archive(dest)

    assert (0, 5) == (report.downloaded, report.skipped)
    assert check.ok
    assert [] == calls


async def test_a_failed_files_temp_file_is_removed_from_a_worker_thread(
    client: Any, emulator: Any, dest: Path
) -> None:
    """Part of a body is in the temp file when the file fails (a cut, then a 404 on the
    resume): the temp file is removed, and not from the loop's thread."""
    seeded = await seed(client, emulator, 1, sizes=[1 << 20])
    emulator.faults.cut_body(300_000, path="/storage/")
    armed = False

    def refuse_the_resume(event: Any) -> None:
        # The cut's bytes are counted before the retry goes out: its GET meets the 404.
        nonlocal armed
        if not armed and event.kind == "bytes" and event.bytes_done >= 300_000:
            armed = True
            emulator.faults.fail_next(1, status=404, path="/storage/")

    with _Watch() as calls:
        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            chunk_size=64 * 1024,
            backoff=0.01,
            on_progress=refuse_the_resume,
        )

    assert ["http_404"] == [f.reason for f in report.failed]
    assert any(r.range for r in emulator.requests if "/storage/" in r.path)  # resumed
    assert [] == temp_files(dest)
    assert [] == calls


async def test_a_cancelled_download_leaves_no_temp_file_and_no_loop_call(
    dest: Path,
) -> None:
    """Cancelled with part of a body in its temp file (storage went silent): the temp file
    is removed from a worker thread."""
    body = sample_jpeg(1 << 20, seed=7)
    storage = RawStorage({"/p.jpg": body}, Act("stall", after=300_000))
    await storage.start()

    def in_temp_file() -> int:
        return sum(os.path.getsize(dest / ".visiono" / "tmp" / name) for name in temp_files(dest))

    try:
        with _Watch() as calls:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    functools.partial(
                        archive_raw, dest, storage, "/p.jpg", chunk_size=64 * 1024, read_timeout=60
                    )
                )
                # A bounded poll of the temp file's size, from a worker thread.
                with anyio.fail_after(30):
                    while await anyio.to_thread.run_sync(in_temp_file) < 256 * 1024:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    finally:
        await storage.aclose()

    assert [] == temp_files(dest)
    assert {} == files_under(dest)
    assert [] == calls
