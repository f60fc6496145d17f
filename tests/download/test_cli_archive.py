"""``visiono archive``: the report on stdout, exit codes that tell success from failure."""

from __future__ import annotations

import datetime as dt
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, seed

from tests.children import child_env, python_child, python_command
from visiono_async import Selection, VisionoClient, WaitNotice
from visiono_async.cli import _backend_options, build_parser, main
from visiono_async.cli._archive import selection_from
from visiono_async.cli._display import RunDisplay, resume_command, wait_text
from visiono_async.download import read_manifest
from visiono_async.testing import VisionoEmulator


def parse(*argv: str) -> Any:
    return build_parser().parse_args(["archive", *argv])


class TestArchiveCommand:
    async def test_archives_and_exits_zero(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Every photo is written and the summary printed."""
        seeded = await seed(client, emulator, 3)
        args = parse(
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--api-key",
            api_key,
            "--base-url",
            emulator.base_url,
            "--concurrency",
            "4",
            "--sidecar",
        )

        code = await args.func(args)

        out = capsys.readouterr().out
        assert 0 == code
        assert "3 downloaded, 0 skipped, 0 failed" in out
        assert 6 == len(files_under(dest))
        assert api_key not in out

    async def test_a_failed_file_exits_one(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A file that could not be archived makes the exit code non-zero."""
        seeded = await seed(client, emulator, 2)
        emulator.faults.fail_next(1, status=404, path="/storage/")
        args = parse(
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--api-key",
            api_key,
            "--base-url",
            emulator.base_url,
            "--quiet",
        )

        code = await args.func(args)

        out = capsys.readouterr().out
        assert 1 == code
        assert "1 failed" in out
        assert "http_404" in out

    async def test_unusable_destination_exits_two(
        self, emulator: Any, api_key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A destination that is a file is reported as an error."""
        target = tmp_path / "file"
        target.write_text("x")
        args = parse(str(target), "--api-key", api_key, "--base-url", emulator.base_url)

        code = await args.func(args)

        assert 2 == code
        assert "cannot write to the destination" in capsys.readouterr().err

    def test_filters_parse(self) -> None:
        """Filters map onto archive()'s options."""
        args = parse(
            "out",
            "--status",
            "submitted",
            "--inactive",
            "--tag",
            "a",
            "--tag",
            "b",
            "--variant",
            "both",
            "--template",
            "{submission_id}{ext}",
        )
        assert ("submitted", False, ["a", "b"], "both") == (
            args.status,
            args.is_active,
            args.tags,
            args.variant,
        )
        assert "{submission_id}{ext}" == args.template


class TestSelectionFlags:
    def test_the_flags_make_one_selection(self) -> None:
        """Every filter flag lands in one Selection; ``--tag a,b`` is two tags."""
        args = parse(
            "out",
            "--photo-request",
            "pr_1",
            "--smart-link",
            "sl_1",
            "--status",
            "submitted",
            "--created-after",
            "2024-01-01",
            "--created-before",
            "2024-02-01T12:00:00+01:00",
            "--inactive",
            "--tag",
            "a, b",
            "--tag",
            "c",
        )

        assert Selection(
            photo_requests=["pr_1"],
            smart_links=["sl_1"],
            status="submitted",
            created_after=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
            created_before=dt.datetime(2024, 2, 1, 11, tzinfo=dt.timezone.utc),
            is_active=False,
            tags=["a", "b", "c"],
        ) == selection_from(args)

    def test_no_flags_is_everything(self) -> None:
        """``visiono archive DEST`` alone archives every photo request and smart link."""
        assert Selection() == selection_from(parse("out"))

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            (
                ["--created-after", "yesterday"],
                "error: --created-after: invalid datetime 'yesterday': expected ISO 8601",
            ),
            (["--created-before", "2024-13-01"], "error: --created-before: invalid datetime"),
            (
                ["--created-after", "2024-02-01", "--created-before", "2024-01-01"],
                "error: created_after (2024-02-01T00:00:00+00:00) must be before created_before",
            ),
            (["--tag", "a,,b"], "error: tags must not hold an empty tag"),
            (["--max-attempts", "0"], "error: --max-attempts must be at least 1"),
        ],
        ids=["not-iso", "no-such-month", "empty-range", "empty-tag", "no-attempt"],
    )
    async def test_bad_flags_exit_two_before_any_call(
        self,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
        flags: list[str],
        message: str,
    ) -> None:
        """One sentence naming what is wrong, exit 2; nothing sent, no destination made."""
        before = len(emulator.requests)
        args = parse(str(dest), *flags, "--api-key", api_key, "--base-url", emulator.base_url)

        code = await args.func(args)

        captured = capsys.readouterr()
        assert 2 == code
        assert captured.err.startswith(message), captured.err
        assert "" == captured.out
        assert before == len(emulator.requests)
        assert not await anyio.Path(dest).exists()

    async def test_max_attempts_is_the_attempts_per_file(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``--max-attempts 1``: a file storage answers 503 once is reported, not retried."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=503, path="/storage/")
        args = parse(
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--max-attempts",
            "1",
            "--api-key",
            api_key,
            "--base-url",
            emulator.base_url,
            "--quiet",
        )

        code = await args.func(args)

        out = capsys.readouterr().out
        assert 1 == code
        assert "http_503: HTTP 503 (after 1 attempts)" in out
        assert 1 == emulator.count("GET", "/storage/")

    async def test_a_filter_that_matches_nothing_is_named(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Nothing archived: the summary says which selection found nothing; exit 0."""
        await seed(client, emulator, 1)
        args = parse(
            str(dest),
            "--status",
            "cancelled",
            "--api-key",
            api_key,
            "--base-url",
            emulator.base_url,
            "--quiet",
        )

        code = await args.func(args)

        out = capsys.readouterr().out
        assert 0 == code
        assert "nothing to archive (selected: photo requests with status cancelled)" in (
            out.splitlines()
        )


class TestEventLoop:
    def test_uvloop_when_installed(self) -> None:
        """The command runs on uvloop when it can be imported."""
        pytest.importorskip("uvloop")
        assert {"use_uvloop": True} == _backend_options()

    def test_asyncio_without_uvloop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without uvloop the command runs on the standard asyncio loop."""
        monkeypatch.setitem(sys.modules, "uvloop", None)
        assert {} == _backend_options()

    @pytest.mark.parametrize("uvloop", [True, False], ids=["uvloop", "asyncio"])
    async def test_archive_command_on_either_loop(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        monkeypatch: pytest.MonkeyPatch,
        uvloop: bool,
    ) -> None:
        """``visiono archive`` archives everything on whichever loop it runs."""
        if uvloop:
            pytest.importorskip("uvloop")
        else:
            monkeypatch.setitem(sys.modules, "uvloop", None)
        seeded = await seed(client, emulator, 3)
        argv = [
            "archive",
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--api-key",
            api_key,
            "--base-url",
            emulator.base_url,
            "--quiet",
        ]

        code = await anyio.to_thread.run_sync(main, argv)

        assert 0 == code
        assert set(seeded.photos.values()) == set(files_under(dest).values())


async def visiono(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``visiono ARGS`` run as a child process: exit code, stdout, stderr."""
    result = await anyio.run_process(
        python_command("-m", "visiono_async", *args), env=env or child_env(), check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def key_env(emulator: Any, api_key: str, **extra: str) -> dict[str, str]:
    """The environment of a child that archives from ``emulator`` with ``api_key``."""
    return child_env(**{"VISIONO_API_KEY": api_key, "VISIONO_BASE_URL": emulator.base_url, **extra})


class TestBadInputInAChild:
    """``visiono archive`` run as a person runs it: bad input is exit 2 and one sentence."""

    async def test_an_unknown_template_field_is_refused_before_any_call(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """``{nope}``: exit 2 naming the field and listing the valid ones; nothing fetched."""
        seeded = await seed(client, emulator, 1)
        before = len(emulator.requests)

        code, _out, err = await visiono(
            "archive",
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--template",
            "{photo_request_id}/{nope}{ext}",
            env=key_env(emulator, api_key),
        )

        assert 2 == code
        assert "unknown naming template field {nope}" in err
        assert "valid fields: {photo_request_id}, {smart_link_id}, {item_id}" in err
        assert "Traceback" not in err
        assert before == len(emulator.requests)
        assert not await anyio.Path(dest).exists()

    async def test_archive_refuses_an_unknown_field_too(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """The library call refuses it before touching ``dest``, with the same sentence."""
        seeded = await seed(client, emulator, 1)
        with pytest.raises(ValueError, match=r"unknown naming template field \{nope\}"):
            await client.archive(dest, photo_requests=[seeded.photo_request_id], template="{nope}")
        assert not await anyio.Path(dest).exists()

    async def test_a_malformed_id_is_refused_before_any_call(
        self, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """``--photo-request ../x``: exit 2, no API call, no destination created."""
        before = len(emulator.requests)

        code, out, err = await visiono(
            "archive", str(dest), "--photo-request", "../x", env=key_env(emulator, api_key)
        )

        assert 2 == code
        assert "--photo-request must not contain '/'" in err
        assert "'../x'" in err
        assert "" == out
        assert before == len(emulator.requests)
        assert not await anyio.Path(dest).exists()

    async def test_an_unknown_id_is_one_not_found_line(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """A photo request the API does not know: one clear line, the others archived."""
        seeded = await seed(client, emulator, 2)

        code, out, err = await visiono(
            "archive",
            str(dest),
            "--photo-request",
            "pr_doesnotexist",
            "--photo-request",
            seeded.photo_request_id,
            env=key_env(emulator, api_key),
        )

        assert 1 == code
        assert 1 == out.count("pr_doesnotexist")
        assert "  photo request pr_doesnotexist: not found" in out.splitlines()
        assert "batch_failed" not in out + err
        assert "2 downloaded, 0 skipped, 1 failed" in out
        assert 2 == len(files_under(dest))
        # The progress counts files only: 2 of 2, not "3/2".
        assert "2/2 files: 2 new, 0 skipped, 0 failed" in err
        assert "hint:" not in err  # the base URL has its /api/v1

    async def test_a_missing_key_names_the_commands_own_ways(self, dest: Path) -> None:
        """No key: the message says ``VISIONO_API_KEY`` and ``--api-key``, not ``api_key=``."""
        env = child_env(VISIONO_API_KEY="", VISIONO_BASE_URL="http://127.0.0.1:9/api/v1")

        code, _out, err = await visiono("archive", str(dest), env=env)

        assert 2 == code
        assert "VISIONO_API_KEY" in err
        assert "--api-key" in err
        assert "api_key=" not in err

    async def test_a_base_url_without_the_api_prefix_gets_a_hint(
        self, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """The emulator's root answers 404 for API paths: the hint says where the API is."""
        root = emulator.base_url.removesuffix("/api/v1")

        code, _out, err = await visiono(
            "archive", str(dest), env=key_env(emulator, api_key, VISIONO_BASE_URL=root)
        )

        assert 2 == code
        assert f"did you mean {root}/api/v1?" in err

    async def test_an_unknown_id_under_a_wrong_base_url_gets_the_hint_too(
        self, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """With ids, the 404s arrive as 'not found' lines; the hint follows them."""
        root = emulator.base_url.removesuffix("/api/v1")

        code, out, err = await visiono(
            "archive",
            str(dest),
            "--photo-request",
            "pr_1",
            env=key_env(emulator, api_key, VISIONO_BASE_URL=root),
        )

        assert 1 == code
        assert "photo request pr_1: not found" in out
        assert f"did you mean {root}/api/v1?" in err


class TestVerbosity:
    async def test_without_v_only_progress_report_and_errors(self, dest: Path) -> None:
        """An unreachable API: one error sentence, no stray log line from the library."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # closed again: nothing listens there
        env = child_env(
            VISIONO_API_KEY="vsk_test_x", VISIONO_BASE_URL=f"http://127.0.0.1:{port}/api/v1"
        )

        code, _out, err = await visiono("archive", str(dest), "--quiet", env=env)

        assert 2 == code
        lines = err.splitlines()
        assert 1 == len(lines), err
        assert lines[0].startswith("error: ")
        assert "attempt(s)" not in err

    async def test_v_after_the_subcommand_logs_api_calls(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """``archive DEST -v``: method, path, status and time of each API call; no storage."""
        seeded = await seed(client, emulator, 2)

        code, _out, err = await visiono(
            "archive",
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--quiet",
            "-v",
            env=key_env(emulator, api_key),
        )

        assert 0 == code, err
        path = f"/photo-requests/{seeded.photo_request_id}/download-urls"
        assert re.search(rf"GET {path} -> 200 \(attempt 1, \d+\.\d{{3}}s", err), err
        assert "/storage/" not in err
        assert api_key not in err

    async def test_vv_adds_storage_requests_without_their_signature(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """``-v archive DEST -v`` counts twice: storage GETs too, their query left out."""
        seeded = await seed(client, emulator, 2)

        code, _out, err = await visiono(
            "-v",
            "archive",
            str(dest),
            "--photo-request",
            seeded.photo_request_id,
            "--quiet",
            "-v",
            env=key_env(emulator, api_key),
        )

        assert 0 == code, err
        storage = re.findall(
            r"GET (http://127\.0\.0\.1:\d+/storage/\S+) -> 200 \(\d+\.\d{3}s\)", err
        )
        assert 2 == len(storage), err
        assert all(url.endswith("?...") for url in storage)
        assert "signature=" not in err

    def test_the_counts_before_and_after_add_up(self) -> None:
        """``visiono -v archive X -v`` is ``-vv``."""
        args = build_parser().parse_args(["-v", "archive", "out", "-v"])
        assert 2 == args.verbose + args.verbose_after


class TestInterrupt:
    async def test_ctrl_c_during_a_rate_limit_wait_prints_the_partial_report(
        self, tmp_path: Path
    ) -> None:
        """A long wait is shown; Ctrl-C then prints what was archived, what remains and how
        to resume (the key left out), and exits 130 with the manifest matching the disk."""
        dest = tmp_path / "archive"
        # Two calls a minute: the third download-urls call waits about a minute.
        async with VisionoEmulator(rate_limit_per_minute=2, rate_limit_per_hour=1000) as emu:
            ids = []
            for _ in range(3):  # a key per request: each key has its own two calls a minute
                seeder = emu.create_api_key()
                async with VisionoClient(api_key=seeder, base_url=emu.base_url) as client:
                    ids.append((await seed(client, emu, 1)).photo_request_id)
            key = emu.create_api_key()
            argv = ["archive", str(dest), "--api-key", key, "--concurrency", "2"]
            for pr_id in ids:
                argv += ["--photo-request", pr_id]
            env = child_env(VISIONO_BASE_URL=emu.base_url)
            async with python_child("-m", "visiono_async", *argv, env=env) as proc:
                err = StreamText(proc.stderr)
                out = StreamText(proc.stdout)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(err.collect)
                    tg.start_soon(out.collect)
                    with anyio.fail_after(40):
                        await err.wait_for(r"waiting \d+ s for the API rate limit \(until ")
                        # The two batches that got URLs (files written by another process).
                        while len(files_under(dest)) < 2:  # noqa: ASYNC110
                            await anyio.sleep(0.05)
                    proc.send_signal(signal.SIGINT)
                    with anyio.fail_after(30):
                        code = await proc.wait()
        wait = re.search(r"waiting (\d+) s for the API rate limit", err.text)
        assert wait is not None
        assert 2 <= int(wait.group(1)) <= 60
        assert 130 == code, err.text
        assert "Traceback" not in err.text
        assert "interrupted" not in err.text.splitlines()  # said once, in the report
        lines = out.text.splitlines()
        assert "interrupted (Ctrl-C): the files archived so far are kept and recorded" in lines
        assert any(
            line.startswith("2 archived (2 new, 0 already there, ") and "0 failed" in line
            for line in lines
        ), out.text
        resume = [line for line in lines if line.startswith("to resume")]
        assert [
            "to resume (only what is missing is fetched): visiono archive "
            f"{dest} --concurrency 2 --photo-request {ids[0]} --photo-request {ids[1]}"
            f" --photo-request {ids[2]}"
        ] == resume
        assert key not in out.text + err.text
        entries = await read_manifest(dest)
        assert sorted(e.path for e in entries) == sorted(files_under(dest))


class StreamText:
    """Collects a child's output stream as text, for a test to wait on."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.text = ""
        self._changed = anyio.Event()

    async def collect(self) -> None:
        async for chunk in self._stream:
            self.text += chunk.decode(errors="replace")
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, pattern: str) -> None:
        while re.search(pattern, self.text) is None:
            await self._changed.wait()


class TestStartUp:
    async def test_ctrl_c_while_importing_exits_130_without_a_traceback(self) -> None:
        """The console script, interrupted while the package imports aiohttp."""
        script = Path(sys.executable).parent / "visiono"
        assert script.exists(), "the package is not installed (pip install -e .)"
        code = (
            "import os, runpy, signal, sys\n"
            "class Interrupt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'aiohttp':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            f"sys.argv = [{str(script)!r}, 'demo']\n"
            f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
        )
        result = await anyio.run_process(python_command("-c", code), check=False, env=child_env())
        assert 130 == result.returncode
        assert "interrupted" == result.stderr.decode().strip()
        assert b"" == result.stdout


class TestWaitLines:
    @pytest.mark.parametrize(
        ("reason", "expected"),
        [
            ("rate_limit", "waiting 42 s for the API rate limit (until "),
            ("server_reset", "waiting 42 s for the API rate limit (until "),
            ("retry_backoff", "waiting 42 s before retrying GET /photo-requests (until "),
            ("hourly_budget", "waiting 42 s for the API's hourly budget (until "),
        ],
    )
    def test_each_reason_reads_as_a_sentence(self, reason: str, expected: str) -> None:
        """The line a person sees for each kind of wait."""
        notice = WaitNotice.starting_now(reason, 41.2, "GET", "/photo-requests")  # type: ignore[arg-type]
        assert wait_text(notice).startswith(expected)

    def test_short_waits_are_not_shown(self) -> None:
        """Pacing of a fraction of a second is not worth a line."""
        display = RunDisplay(show=True)
        assert display.bar is not None
        shown: list[str] = []
        display.bar.note = shown.append  # type: ignore[method-assign]
        display.note_wait(WaitNotice.starting_now("rate_limit", 1.5, "GET", "/x"))
        display.note_wait(WaitNotice.starting_now("rate_limit", 2.5, "GET", "/x"))
        display.close()
        assert 1 == len(shown)
        assert shown[0].startswith("waiting 3 s for the API rate limit")

    def test_the_resume_command_leaves_the_key_out(self) -> None:
        """``--api-key K`` and ``--api-key=K`` are dropped, everything else kept."""
        argv = ["archive", "my photos", "--api-key", "vsk_1", "--api-key=vsk_2", "--tag", "a"]
        assert "visiono archive 'my photos' --tag a" == resume_command(argv)
