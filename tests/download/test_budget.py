"""Past the API budget a bulk archive waits (and says so), or stops cleanly at max_wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from archive_helpers import files_under, seed

from visiono_async import RateLimit, RetryPolicy, VisionoClient
from visiono_async.download import ArchiveError, ProgressEvent, archive, read_manifest


def budget_client(emulator: Any, api_key: str) -> VisionoClient:
    """A client whose budget is two calls per second, refusing (not pacing) past it.

    The client-side window stands in for Visiono's hourly budget: a call past it raises
    ``RateLimitError`` with ``retry_after``, exactly as the hourly window would, in a
    second instead of an hour.
    """
    return VisionoClient(
        api_key=api_key,
        base_url=emulator.base_url,
        rate_limit=RateLimit(per_minute=None, per_hour=None, windows=((2, 1.0),)),
        retry=RetryPolicy(max_wait=0.0),
    )


async def three_requests(client: Any, emulator: Any) -> list[str]:
    return [(await seed(client, emulator, 1)).photo_request_id for _ in range(3)]


class TestBudget:
    async def test_waits_for_the_budget_and_says_until_when(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """The third download-urls call is refused: the run waits, then archives it."""
        ids = await three_requests(client, emulator)
        events: list[ProgressEvent] = []

        async with budget_client(emulator, api_key) as paced:
            report = await archive(paced, dest, photo_requests=ids, on_progress=events.append)

        assert report.ok
        assert 3 == report.downloaded
        waiting = [e for e in events if e.kind == "waiting"]
        assert waiting
        assert all(e.until is not None and e.until.tzinfo is not None for e in waiting)
        assert "API budget" in (waiting[0].message or "")
        assert report.waited > 0
        assert "for the API budget" in report.summary()

    async def test_past_max_wait_it_stops_cleanly_and_a_rerun_resumes(
        self, client: Any, emulator: Any, api_key: str, dest: Path
    ) -> None:
        """max_wait=0: ArchiveError api_budget with a report; what was signed is archived."""
        ids = await three_requests(client, emulator)

        async with budget_client(emulator, api_key) as paced:
            with pytest.raises(ArchiveError) as info:
                await archive(paced, dest, photo_requests=ids, max_wait=0)

        error = info.value
        assert "api_budget" == error.reason
        assert "resumes" in str(error)
        assert error.report is not None
        assert 2 == error.report.downloaded
        assert [] == error.report.failed
        assert 2 == len(await read_manifest(dest)) == len(files_under(dest))

        async with budget_client(emulator, api_key) as fresh:
            again = await archive(fresh, dest, photo_requests=ids)
        assert (1, 2) == (again.downloaded, again.skipped)

    async def test_max_wait_from_the_cli_and_its_validation(
        self,
        client: Any,
        emulator: Any,
        api_key: str,
        dest: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """``--max-wait SECONDS`` parses; a negative max_wait is refused before any work."""
        from visiono_async.cli import build_parser

        args = build_parser().parse_args(
            ["archive", str(dest), "--max-wait", "5", "--api-key", api_key,
             "--base-url", emulator.base_url, "--quiet"]
        )  # fmt: skip
        assert 5.0 == args.max_wait
        with pytest.raises(ValueError, match="max_wait"):
            await archive(client, dest, max_wait=-1)
        assert {} == files_under(dest)
