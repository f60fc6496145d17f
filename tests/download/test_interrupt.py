"""Ctrl-C on ``visiono archive``: a prompt stop, no partial file, a consistent manifest."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, seed, temp_files

import visiono_async
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


class TestCtrlC:
    async def test_sigint_then_resume(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """SIGINT mid-run exits 130; the next run downloads only the rest."""
        seeded = await seed(client, emulator, 16)
        # 8 rounds of 1 s: the run is far from its end when the signal goes out, even on a
        # machine so busy that noticing the first files takes seconds.
        emulator.faults.delay(1.0, path="/storage/")
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(visiono_async.__file__).parent.parent),
            "VISIONO_API_KEY": api_key,
        }
        command = [
            sys.executable, "-m", "visiono_async", "archive", str(dest),
            "--photo-request", seeded.photo_request_id,
            "--base-url", emulator.base_url, "--concurrency", "2", "--quiet",
        ]  # fmt: skip

        async with await anyio.open_process(command, env=env) as process:
            await wait_for_files(dest, 2)
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(20):
                code = await process.wait()

        assert 130 == code
        emulator.faults.clear()
        assert [] == temp_files(dest)
        first = await read_manifest(dest)
        on_disk = files_under(dest)
        assert {e.path for e in first} <= set(on_disk)
        assert set(on_disk.values()) <= set(seeded.photos.values())
        assert len(on_disk) < 16

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok
        assert len(first) == report.skipped
        assert 16 == report.skipped + report.downloaded
        assert 16 == len(await read_manifest(dest)) == len(files_under(dest))

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
                env = {
                    **os.environ,
                    "PYTHONPATH": str(Path(visiono_async.__file__).parent.parent),
                    "VISIONO_API_KEY": api_key,
                }
                command = [
                    sys.executable, "-m", "visiono_async", "archive", str(dest),
                    "--photo-request", seeded.photo_request_id,
                    "--base-url", emulator.base_url, "--concurrency", "2", "--quiet",
                ]  # fmt: skip

                async with await anyio.open_process(command, env=env) as process:
                    await wait_for_files(dest, 1)
                    process.send_signal(signal.SIGINT)
                    with anyio.fail_after(20):
                        code = await process.wait()

                assert 130 == code
                assert [] == temp_files(dest)
                first = await read_manifest(dest)
                on_disk = files_under(dest)
                assert {e.path for e in first} <= set(on_disk)
                assert set(on_disk.values()) <= set(seeded.photos.values())  # whole photos only
                assert len(on_disk) < 8

                report = await archive(client, dest, photo_requests=[seeded.photo_request_id])

        assert report.ok
        assert len(first) == report.skipped
        assert 8 == report.skipped + report.downloaded
        assert 8 == len(await read_manifest(dest)) == len(files_under(dest))
