"""``visiono archive``: the report on stdout, exit codes that tell success from failure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from archive_helpers import files_under, seed

from visiono_async.cli import _backend_options, build_parser, main


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
