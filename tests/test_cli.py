"""The ``visiono`` command: entry points, ``visiono emulator`` and ``visiono demo``."""

from __future__ import annotations

import inspect
import logging
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
from visiono_async.cli import build_parser, main
from visiono_async.download import read_manifest
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

    @pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
    def test_main_leaves_the_callers_logging_as_it_was(
        self, tmp_path: Path, verbosity: list[str]
    ) -> None:
        """``main()`` in a process that logs (an app, a test run) sets the command's own
        logging up for the run and puts every logger back afterwards: before, the package
        logger stayed silenced (``propagate = False``) for the rest of the process, and
        each call added one more handler."""
        names = ("visiono_async", "visiono_async.storage", "visiono_async.send")
        loggers = [logging.getLogger(name) for name in names]
        before = [(lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
        argv = [*verbosity, "archive", str(tmp_path / "dest"), "--template", "{nope}"]
        assert 2 == main(argv)  # refused before any call: an unknown template field
        assert before == [(lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]


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
        async with Receiver([500, 200]) as receiver:
            await _second_delivery(receiver, "--webhook-time-factor", "0.001")
        assert 2 == len(receiver.received)

    async def test_webhook_timeout_fails_a_slow_answer_and_retries(self) -> None:
        """``--webhook-timeout 0.2``: a receiver that takes 5 s to answer has its delivery
        counted as failed and retried. With the default 30 s it answers 200 in time and no
        second delivery ever comes, so the second one is the option's doing."""
        async with Receiver([0, 200], hang=5.0) as receiver:
            await _second_delivery(
                receiver, "--webhook-time-factor", "0.001", "--webhook-timeout", "0.2"
            )
        assert 2 == len(receiver.received)

    @pytest.mark.parametrize("value", ["0", "-1", "nan"])
    def test_a_webhook_timeout_must_be_positive(self, value: str) -> None:
        """0, a negative number or NaN is refused with exit 2 and a sentence."""
        result = run_cli("emulator", "--port", "0", "--webhook-timeout", value, timeout=30)
        assert 2 == result.returncode
        assert "--webhook-timeout must be positive" in result.stderr

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

    def test_demo_sizes_photos_like_phones_and_makes_one_call_per_request(
        self, tmp_path: Path
    ) -> None:
        """``--photos 12``: 200 KiB to 4 MiB each, one ``download-urls`` call per request,
        and plain progress lines of one shape (no terminal here)."""
        dest = tmp_path / "demo"
        result = run_cli("demo", "--dest", str(dest), "--photos", "12")
        assert 0 == result.returncode, result.stderr
        assert "Created 15 photo requests" in result.stdout
        assert "   ... and 10 more" in result.stdout  # five listed, not fifteen
        assert "photo requests now: 15 submitted" in result.stdout
        assert "20 downloaded, 0 skipped, 0 failed" in result.stdout
        assert re.search(r" 15 API calls$", result.stdout, re.MULTILINE), result.stdout
        photos = [p for p in dest.rglob("*.jpg") if p.is_file()]
        assert 20 == len(photos)
        sizes = [p.stat().st_size for p in photos]
        assert all(200 * 1024 <= size <= 4 * 1024 * 1024 for size in sizes), sizes
        assert 1 < len(set(sizes))
        shape = re.compile(
            r"\d+/\d+\+? files( \(listing\.\.\.\))?: \d+ new, \d+ skipped, \d+ failed;"
            r" \d+(\.\d)? (B|KiB|MiB|GiB) at \d+(\.\d)? (B|KiB|MiB|GiB)/s"
        )
        lines = result.stderr.splitlines()
        assert lines
        assert [] == [line for line in lines if not shape.fullmatch(line)]
        assert "20/20 files: 20 new, 0 skipped, 0 failed; " in lines[-1]

    def test_demo_shows_a_bar_on_a_terminal(self, tmp_path: Path) -> None:
        """On a pseudo-terminal the default install draws a rich bar in binary units."""
        import pexpect  # the test extra's; a missing one fails rather than skips

        child = pexpect.spawn(
            sys.executable,
            ["-m", "visiono_async", "demo", "--dest", str(tmp_path / "demo"), "--photos", "4"],
            env=child_env(),
            dimensions=(24, 120),
            encoding="utf-8",
            timeout=50,
        )
        child.expect(pexpect.EOF)
        child.close()
        screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
        assert 0 == child.exitstatus, screen
        assert "archiving" in screen
        assert "12/12 files" in screen
        assert re.search(r"\d+\.\d MiB at \d+\.\d (MiB|GiB)/s", screen), screen
        assert not re.search(r"\d (kB|MB|GB)\b", screen), screen
        assert "12 downloaded, 0 skipped, 0 failed" in screen


class TestEmulatorAsATool:
    async def test_an_upload_without_content_type_is_typed_by_its_bytes(
        self, tmp_path: Path
    ) -> None:
        """The README's curl lines: no ``Content-Type`` (or curl's form default) is read
        from the bytes, recorded as ``image/jpeg`` and archived as ``.jpg``."""
        curl = require_binary("curl")
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(sample_jpeg(30_000, seed=9))
        async with python_child("-m", "visiono_async", "emulator", "--port", "0") as proc:
            base, key = await printed_base_url_and_key(proc)
            root = base.removesuffix("/api/v1")
            async with VisionoClient(api_key=key, base_url=base) as client:
                pr = await client.photo_requests.create(
                    instructions="curl",
                    items=[{"instructions": "a"}, {"instructions": "b"}],
                )
                sl = await client.smart_links.create(
                    name="curl", instructions="curl", items=[{"instructions": "a"}]
                )
                uploads = [
                    # curl --data-binary without -H: application/x-www-form-urlencoded
                    [curl, "-sf", "-X", "POST", "--data-binary", f"@{photo}",
                     f"{root}/_emulator/photo-requests/{pr.id}/submissions"],
                    # no body and no Content-Type at all
                    [curl, "-sf", "-X", "POST", "-H", "Content-Type:",
                     "--data-binary", f"@{photo}",
                     f"{root}/_emulator/photo-requests/{pr.id}/submissions"],
                    [curl, "-sf", "-X", "POST",
                     f"{root}/_emulator/smart-links/{sl.id}/submissions?unique_value=AB-123"],
                ]  # fmt: skip
                for command in uploads:
                    done = await anyio.run_process(command, check=False)
                    assert 0 == done.returncode, done.stderr
                urls = await client.photo_requests.download_urls(pr.id)
                link_urls = await client.smart_links.download_urls(sl.id)
                assert ["image/jpeg"] * 3 == [
                    s.mime_type for s in [*urls.submissions, *link_urls.submissions]
                ]
                report = await client.archive(
                    tmp_path / "out", photo_requests=[pr.id], smart_links=[sl.id]
                )
            proc.send_signal(signal.SIGINT)
        assert 3 == report.downloaded
        names = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()]
        assert 3 == len([n for n in names if n.endswith(".jpg")]), names
        assert not [n for n in names if n.endswith(".bin")]

    async def test_sigterm_removes_the_nginx_folder(self, tmp_path: Path) -> None:
        """``visiono emulator --storage nginx`` stopped by SIGTERM leaves no temp folder."""
        require_binary("nginx")
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        env = child_env(TMPDIR=str(scratch))
        args = ("-m", "visiono_async", "emulator", "--port", "0", "--storage", "nginx")
        async with python_child(*args, env=env) as proc:
            await printed_base_url_and_key(proc)
            assert 1 == len(list(scratch.glob("visiono-nginx-*")))
            proc.terminate()
            with anyio.fail_after(30):
                code = await proc.wait()
        assert 0 == code
        assert [] == list(scratch.iterdir())


README = Path(__file__).resolve().parents[1] / "README.md"


class TestReadme:
    def test_the_client_signature_lists_every_parameter(self) -> None:
        """The client guide's ``VisionoClient(...)`` line names each parameter with its default."""
        text = (README.parent / "docs" / "client.md").read_text()
        start = text.index("VisionoClient(api_key=None")
        line = " ".join(text[start : text.index("\n```", start)].split())
        for name, param in inspect.signature(VisionoClient.__init__).parameters.items():
            if name == "self":
                continue
            default = "RateLimit()" if name == "rate_limit" else repr(param.default)
            assert f"{name}={default}" in line, name

    def test_read_manifest_is_awaited_and_its_module_named(self) -> None:
        """Every mention of ``read_manifest(`` in the archiving guide is awaited, and its module named."""
        text = (README.parent / "docs" / "archiving.md").read_text()
        calls = re.findall(r"(\S*)\s*read_manifest\(", text)
        assert calls
        assert all(before.endswith("await") for before in calls), calls
        assert "from visiono_async.download import read_manifest" in text
        assert inspect.iscoroutinefunction(read_manifest)


async def _second_delivery(receiver: Receiver, *flags: str) -> None:
    """``visiono emulator FLAGS`` delivers one ``photo_request.created`` to ``receiver``;
    returns once a second delivery of it (a retry) has arrived, fails after 20 s."""
    async with python_child("-m", "visiono_async", "emulator", "--port", "0", *flags) as proc:
        base, key = await printed_base_url_and_key(proc)
        async with VisionoClient(api_key=key, base_url=base) as client:
            await client.webhooks.create(url=receiver.url, events=["photo_request.created"])
            await client.photo_requests.create(instructions="retried")
            with anyio.fail_after(20):
                while len(receiver.received) < 2:  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.02)
        proc.send_signal(signal.SIGINT)
