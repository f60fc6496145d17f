"""``visiono demo``: the whole story on a local emulator, with no key and no network.

It starts the emulator in-process, creates sample photo requests, plays their recipients'
uploads, archives every photo to disk and prints what happened at each step.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

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
        "--photos", type=int, default=0, help="extra photo requests to create (default 0)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel downloads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    """Run the demo; exit code 0 when every photo was archived."""
    from .. import VisionoClient
    from ..testing import VisionoEmulator, sample_jpeg

    dest: Path = args.dest or Path(tempfile.mkdtemp(prefix="visiono-demo-"))
    specs: list[dict[str, Any]] = list(SAMPLE_REQUESTS)
    specs += [
        {"instructions": f"Extra sample request {i + 1}", "items": [{"instructions": "Photo"}]}
        for i in range(max(0, args.photos))
    ]
    async with VisionoEmulator() as emu:
        key = emu.create_api_key(plan="pro")
        print(f"1. Started a Visiono emulator at {emu.base_url}")
        async with VisionoClient(api_key=key, base_url=emu.base_url) as client:
            created = await client.photo_requests.create_many(specs)
            print(f"2. Created {len(created)} photo requests:")
            for pr in created:
                print(f"   {pr.id}  code {pr.unique_code}  {pr.instructions!r}")

            uploads = 0
            for n, pr in enumerate(created):
                gps = (45.4642, 9.19) if n % 2 == 0 else None
                for m, item in enumerate(pr.items):
                    size = 40_000 + 7_919 * (n * 5 + m)
                    await emu.simulate_submission(
                        pr.id, item.id, content=sample_jpeg(size, seed=n * 100 + m), gps=gps
                    )
                    uploads += 1
            statuses = [(await client.photo_requests.get(pr.id)).status for pr in created]
            print(f"3. Simulated {uploads} uploads; statuses now: {', '.join(map(str, statuses))}")

            print(f"4. Archiving every photo to {dest}")
            report = await client.archive(
                dest,
                photo_requests=[pr.id for pr in created],
                concurrency=args.concurrency,
                progress=not args.no_progress,
            )
            print("5. Report:")
            for line in report.summary().splitlines():
                print(f"   {line}")
            print(
                f"   Each file is verified (size, content type, SHA-256) and recorded in {dest}/.visiono/manifest.sqlite3"
            )
            print("   Another archive run into this folder fetches only what is new.")
    return 0 if report.ok else 1
