"""``visiono demo``: the whole story on a local emulator, with no key and no network.

It starts the emulator in-process, creates sample photo requests, plays their recipients'
uploads, archives every photo to disk and prints what happened at each step.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

SAMPLE_REQUESTS: list[dict[str, Any]] = [
    {
        "instructions": "Warranty claim: show us the damaged product",
        "items": [
            {"instructions": "The whole product", "is_required": True},
            {"instructions": "Close-up of the damage", "is_required": True},
            {"instructions": "The receipt", "is_required": False},
        ],
        "metadata": {"ticket_id": "WR-1001"},
    },
    {
        "instructions": "ID verification",
        "items": [
            {"instructions": "Front of ID", "is_required": True},
            {"instructions": "Back of ID", "is_required": True},
        ],
        "expires_in_hours": 24,
        "metadata": {"ticket_id": "KYC-2002"},
    },
    {
        "instructions": "Property check-in",
        "items": [
            {"instructions": "Living room", "is_required": True},
            {"instructions": "Kitchen", "is_required": True},
            {"instructions": "Meter reading", "is_required": True},
        ],
        "require_gps": True,
        "metadata": {"booking": "BK-3003"},
    },
]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole flow on a local emulator (no key, no network)",
        description=(
            "Start a local Visiono emulator, create sample photo requests, simulate their "
            "submissions, archive every photo to disk and print the report."
        ),
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="where to archive the photos (default: a new temporary folder)",
    )
    parser.add_argument(
        "--photos",
        type=int,
        default=0,
        metavar="N",
        help="extra photo requests of one photo each, 200 KiB to 4 MiB (default 0)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel downloads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


_MIN_PHOTO = 200 * 1024
_MAX_PHOTO = 4 * 1024 * 1024
_LISTED = 5


def photo_size(n: int) -> int:
    """The size of the demo's ``n``-th photo: 200 KiB to 4 MiB, spread like phone photos
    (log-uniform, median about 900 KiB), the same for every run."""
    u = random.Random(n).random()
    return int(_MIN_PHOTO * (_MAX_PHOTO / _MIN_PHOTO) ** u)


def _calls_needed(requests: int) -> int:
    """API calls of one demo run: creates in batches of 10, listing pages, one
    ``download-urls`` per request, with room to spare."""
    return 2 * (requests // 10 + requests // 20 + requests) + 100


async def run(args: argparse.Namespace) -> int:
    """Run the demo; exit code 0 when every photo was archived, 130 after Ctrl-C."""
    from .. import RateLimit, VisionoClient
    from ..testing import VisionoEmulator
    from ._display import RunDisplay

    if args.photos < 0:
        print("error: --photos must be 0 or more", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    dest = args.dest or Path(await anyio.to_thread.run_sync(_new_folder))
    specs: list[dict[str, Any]] = list(SAMPLE_REQUESTS)
    specs += [
        {"instructions": f"Extra sample request {i + 1}", "items": [{"instructions": "Photo"}]}
        for i in range(args.photos)
    ]
    # A plan and pacing sized to the demo: Visiono's 60 calls a minute would make a demo
    # of hundreds of requests wait for minutes, which shows nothing of the product.
    budget = _calls_needed(len(specs))
    async with VisionoEmulator(rate_limit_per_minute=budget, rate_limit_per_hour=budget) as emu:
        key = emu.create_api_key(plan="pro")
        _say(f"1. Started a Visiono emulator at {emu.base_url}")
        async with VisionoClient(
            api_key=key,
            base_url=emu.base_url,
            rate_limit=RateLimit(per_minute=budget, per_hour=budget),
        ) as client:
            created = await client.photo_requests.create_many(specs)
            _say(f"2. Created {len(created)} photo requests:")
            for pr in created[:_LISTED]:
                _say(f"   {pr.id}  code {pr.unique_code}  {pr.instructions!r}")
            if len(created) > _LISTED:
                _say(f"   ... and {len(created) - _LISTED} more")

            uploads = 0
            total = sum(len(pr.items) for pr in created)
            for n, pr in enumerate(created):
                gps = (45.4642, 9.19) if n % 2 == 0 else None
                for item in pr.items:
                    # No bytes given: the emulator keeps a recipe and makes the photo as
                    # it is downloaded, so memory stays flat however many there are.
                    await emu.simulate_submission(pr.id, item.id, size=photo_size(uploads), gps=gps)
                    uploads += 1
                    if uploads % 100 == 0 and uploads < total:
                        _say(f"   {uploads}/{total} uploads simulated")
            ids = {pr.id for pr in created}
            statuses: Counter[str] = Counter()
            async for pr in client.photo_requests.list():
                if pr.id in ids:
                    statuses[str(pr.status)] += 1
            summary = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
            _say(f"3. Simulated {uploads} uploads; photo requests now: {summary}")

            _say(f"4. Archiving every photo to {dest}")
            display = RunDisplay(show=not args.no_progress)
            client.add_wait_listener(display.note_wait)
            try:
                report = await client.archive(
                    dest,
                    photo_requests=[pr.id for pr in created],
                    concurrency=args.concurrency,
                    on_progress=display,
                )
            except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
                display.close()
                _say(display.interrupted(str(dest), None))  # its emulator ends with it
                args.interrupt_reported = True
                raise
            finally:
                display.close()
            _say("5. Report:")
            for line in report.summary().splitlines():
                _say(f"   {line}")
            _say(
                f"   Each file is verified (size, content type, SHA-256) and recorded in {dest}/.visiono/manifest.sqlite3"
            )
            _say("   Another archive run into this folder fetches only what is new.")
    return 0 if report.ok else 1


def _new_folder() -> str:
    return tempfile.mkdtemp(prefix="visiono-demo-")


def _say(text: str) -> None:
    print(text, flush=True)
