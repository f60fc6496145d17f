"""The ``visiono`` command: entry points, ``visiono emulator`` and ``visiono demo``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from tests.children import child_env, python_child, python_command
from tests.conftest import require_binary
from tests.testing.helpers import Receiver
from visiono_async import VisionoClient, __version__
from visiono_async.cli import build_parser
from visiono_async.testing import sample_jpeg


def run_cli(*args: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visiono_async", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


class TestEntryPoints:
    def test_version(self) -> None:
        """``python -m visiono_async --version`` prints the package version."""
        result = run_cli("--version")
        assert 0 == result.returncode
        assert f"visiono {__version__}" == result.stdout.strip()

    def test_every_subcommand_is_registered(self) -> None:
        """demo, archive and emulator are all there, and a command is required."""
        parser = build_parser()
        help_text = parser.format_help()
        for command in ("demo", "archive", "emulator"):
            assert command in help_text
        result = run_cli()
        assert 2 == result.returncode
        assert "required" in result.stderr


@pytest.fixture
def emulator_process() -> Iterator[subprocess.Popen[str]]:
    """``visiono emulator --port 0`` running in a child process (the port it printed is free)."""
    proc = subprocess.Popen(
        python_command("-m", "visiono_async", "emulator", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


async def printed_base_url_and_key(proc: Process) -> tuple[str, str]:
    """The base URL and test key ``visiono emulator`` prints (read for 30 s at most)."""
    assert proc.stdout is not None
    text = ""
    with anyio.fail_after(30):
        async for chunk in proc.stdout:
            text += chunk.decode()
            if "VISIONO_API_KEY=" in text and text.endswith("\n"):
                break
    base = re.search(r"VISIONO_BASE_URL=(http://127\.0\.0\.1:\d+/api/v1)", text)
    key = re.search(r"VISIONO_API_KEY=(\S+)", text)
    assert base is not None, text
    assert key is not None, text
    return base.group(1), key.group(1)


class TestEmulatorCommand:
    async def test_serves_the_api_with_the_printed_key(
        self, emulator_process: subprocess.Popen[str]
    ) -> None:
        """The printed base URL and key work with the client; Ctrl-C stops it cleanly."""
        proc = emulator_process
        assert proc.stdout is not None
        lines: list[str] = []
        with anyio.fail_after(30):
            while not any("VISIONO_API_KEY=" in line for line in lines):
                line = await anyio.to_thread.run_sync(proc.stdout.readline, abandon_on_cancel=True)
                assert line, (
                    f"the emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
                )
                lines.append(line)
        text = "".join(lines)
        base_url = re.search(r"VISIONO_BASE_URL=(\S+)", text)
        key = re.search(r"VISIONO_API_KEY=(\S+)", text)
        assert base_url is not None
        assert key is not None
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*/api/v1", base_url.group(1))

        async with VisionoClient(api_key=key.group(1), base_url=base_url.group(1)) as client:
            pr = await client.photo_requests.create(instructions="From the CLI emulator")
            assert pr.id == (await client.photo_requests.get(pr.unique_code)).id

        proc.send_signal(signal.SIGINT)
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=15))
        assert code in (0, 130)

    async def test_photos_behind_nginx(self) -> None:
        """``--storage nginx`` serves download URLs from a real nginx with secure_link."""
        require_binary("nginx")
        async with python_child(
            "-m", "visiono_async", "emulator", "--port", "0", "--storage", "nginx"
        ) as proc:
            base, key = await printed_base_url_and_key(proc)
            port = int(base.split(":")[2].split("/")[0])
            async with VisionoClient(api_key=key, base_url=base) as client:
                pr = await client.photo_requests.create(instructions="nginx")
                photo = sample_jpeg(40_000, seed=3)
                async with client.http.post(
                    f"http://127.0.0.1:{port}/_emulator/photo-requests/{pr.id}/submissions",
                    data=photo,
                ) as resp:
                    assert 201 == resp.status
                urls = await client.photo_requests.download_urls(pr.id)
                url = urls.submissions[0].download_url
                assert f":{port}/" not in url  # served by nginx, not by the emulator
                assert "md5=" in url
                async with client.http.get(url) as resp:
                    assert 200 == resp.status
                    assert photo == await resp.read()
            proc.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                assert (await proc.wait()) in (0, 130)

    async def test_webhook_retries_run_at_the_scaled_pace(self) -> None:
        """``--webhook-time-factor 0.001``: a failed delivery is retried after 0.06 s, not a
        minute (the test's own timeout would end a real-minute wait)."""
        async with (
            Receiver([500, 200]) as receiver,
            python_child(
                "-m", "visiono_async", "emulator", "--port", "0", "--webhook-time-factor", "0.001"
            ) as proc,
        ):
            base, key = await printed_base_url_and_key(proc)
            async with VisionoClient(api_key=key, base_url=base) as client:
                await client.webhooks.create(url=receiver.url, events=["photo_request.created"])
                await client.photo_requests.create(instructions="retried")
                with anyio.fail_after(20):
                    while len(receiver.received) < 2:  # noqa: ASYNC110 - another process
                        await anyio.sleep(0.02)
            proc.send_signal(signal.SIGINT)
        assert 2 == len(receiver.received)

    def test_a_webhook_time_factor_must_be_positive(self) -> None:
        """0 or less is refused with exit 2 and a sentence."""
        result = run_cli("emulator", "--port", "0", "--webhook-time-factor", "0", timeout=30)
        assert 2 == result.returncode
        assert "--webhook-time-factor must be positive" in result.stderr

    def test_port_in_use_is_a_clear_error(self) -> None:
        """A port that is taken makes the command fail with a message, not hang."""
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = run_cli("emulator", "--port", str(port), timeout=30)
        assert 0 != result.returncode
        assert str(port) in result.stderr


class TestDemo:
    def test_demo_archives_every_sample_photo(self, tmp_path: Path) -> None:
        """``visiono demo`` creates requests, simulates uploads, archives every photo and exits 0."""
        dest = tmp_path / "demo"
        result = run_cli("demo", "--dest", str(dest), "--no-progress")
        assert 0 == result.returncode, result.stderr
        out = result.stdout
        assert "Created 3 photo requests" in out
        assert "Simulated 8 uploads" in out
        photos = sorted(p for p in dest.rglob("*.jpg") if p.is_file())
        assert 8 == len(photos)
        assert all(p.read_bytes().startswith(b"\xff\xd8\xff") for p in photos)
        assert all(dest.resolve() in p.resolve().parents for p in photos)
