"""``visiono verify DEST``: check an archive's files against its manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run_verify"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``verify`` subcommand."""
    parser = subparsers.add_parser(
        "verify",
        help="check every archived file against the manifest (exists, size, SHA-256)",
        description=(
            "Check every file DEST/.visiono/manifest.sqlite3 records against the file on "
            "disk, and list missing, changed and untracked files. Missing and changed files "
            "are marked, so that the next `visiono archive` fetches exactly those again. "
            "Exit code 0 when everything matches, 1 when something does not, 2 when there "
            "is no usable manifest."
        ),
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="the archive folder")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.set_defaults(func=run_verify)


async def run_verify(args: argparse.Namespace) -> int:
    """Run ``visiono verify``; returns 0 when all match, 1 when not, 2 without a manifest."""
    from ..download import ArchiveError, terminal_progress, verify_archive

    progress = None if args.quiet else terminal_progress(sys.stderr)
    try:
        report = await verify_archive(args.dest, on_progress=progress)
    except ArchiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.close()
    print(report.summary())
    return 0 if report.ok else 1
