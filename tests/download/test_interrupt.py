"""Ctrl-C on ``visiono archive``: a prompt stop, no partial file, a consistent manifest."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, seed, temp_files

import visiono_async
from tests.children import child_env, python_child
from tests.conftest import require_binary
from visiono_async import VisionoClient
from visiono_async.download import archive, read_manifest
from visiono_async.testing import VisionoEmulator
from visiono_async.testing._nginx import NginxStorage

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics are POSIX")


async def wait_for_files(dest: Path, count: int) -> None:
    """Poll the folder (another process writes it) until ``count`` photos are there."""
    for _ in range(1000):
        if len([p for p in files_under(dest) if p.endswith(".jpg")]) >= count:
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"fewer than {count} photos appeared in {dest}")


async def interrupted_cli_archive(
    dest: Path, base_url: str, api_key: str, photo_request_id: str, *, after_files: int
) -> int:
    """``visiono archive`` in a child process, SIGINT once ``after_files`` photos are there.

    Returns the exit code (waited for at most 20 s: the stop must be prompt).
    """
    env = child_env(
        PYTHONPATH=str(Path(visiono_async.__file__).parent.parent), VISIONO_API_KEY=api_key
    )
    command = [
        "-m", "visiono_async", "archive", str(dest),
        "--photo-request", photo_request_id,
        "--base-url", base_url, "--concurrency", "2", "--quiet",
    ]  # fmt: skip
    async with python_child(*command, env=env) as process:
        await wait_for_files(dest, after_files)
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            return await process.wait()


async def assert_stopped_cleanly(dest: Path, photos: dict[str, bytes]) -> int:
    """No temp file, whole photos only, a manifest that matches; the count recorded."""
    assert [] == temp_files(dest)
    first = await read_manifest(dest)
    on_disk = files_under(dest)
    assert {e.path for e in first} <= set(on_disk)
    assert set(on_disk.values()) <= set(photos.values())
    assert len(on_disk) < len(photos)
    return len(first)


async def assert_resumed(
    client: Any, dest: Path, photo_request_id: str, before: int, total: int
) -> None:
    """A second run downloads just the rest; everything is on disk and recorded."""
    report = await archive(client, dest, photo_requests=[photo_request_id])
    assert report.ok
    assert before == report.skipped
    assert total == report.skipped + report.downloaded
    assert total == len(await read_manifest(dest)) == len(files_under(dest))


class TestCtrlC:
    async def test_sigint_then_resume(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """SIGINT mid-run exits 130; the next run downloads only the rest."""
        seeded = await seed(client, emulator, 16)
        # 8 rounds of 1 s: the run is far from its end when the signal goes out, even on a
        # machine so busy that noticing the first files takes seconds.
        emulator.faults.delay(1.0, path="/storage/")

        code = await interrupted_cli_archive(
            dest, emulator.base_url, api_key, seeded.photo_request_id, after_files=2
        )

        assert 130 == code
        emulator.faults.clear()
        before = await assert_stopped_cleanly(dest, seeded.photos)
        await assert_resumed(client, dest, seeded.photo_request_id, before, 16)

    async def test_sigint_while_large_bodies_stream_in_threads(self, dest: Path) -> None:
        """SIGINT while stream threads move large bodies (slow nginx): 130, nothing partial.

        Bodies of 600 kB go from socket to file in a stream thread (BodyPipe); nginx sends
        each at 400 kB/s, so when the first file is on disk the next ones are mid-body.
        """
        require_binary("nginx")
        storage = NginxStorage(limit_rate=400_000)
        async with VisionoEmulator(
            rate_limit_per_minute=10_000, rate_limit_per_hour=100_000, storage=storage
        ) as emulator:
            api_key = emulator.create_api_key()
            async with VisionoClient(
                api_key=api_key, base_url=emulator.base_url, rate_limit=None
            ) as client:
                seeded = await seed(client, emulator, 8, sizes=[600_000] * 8)

                code = await interrupted_cli_archive(
                    dest, emulator.base_url, api_key, seeded.photo_request_id, after_files=1
                )

                assert 130 == code
                before = await assert_stopped_cleanly(dest, seeded.photos)
                await assert_resumed(client, dest, seeded.photo_request_id, before, 8)
