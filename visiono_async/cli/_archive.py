"""``visiono archive DEST``: archive photo requests and smart links to a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run_archive"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``archive`` subcommand."""
    from ..download import DEFAULT_TEMPLATE

    parser = subparsers.add_parser(
        "archive",
        help="download every photo of chosen photo requests and smart links",
        description=(
            "Download photos to DEST with bounded parallelism, verified and recorded in a "
            "manifest (DEST/.visiono/manifest.sqlite3), so that a re-run fetches only what is "
            "new. Without ids or filters, every photo request and smart link is archived. "
            "Exit code 1 when a file failed, 2 when the run could not proceed."
        ),
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="the destination folder")
    pick = parser.add_argument_group("what to archive")
    pick.add_argument(
        "--photo-request",
        dest="photo_requests",
        action="append",
        default=[],
        metavar="ID",
        help="a photo request id (repeatable)",
    )
    pick.add_argument(
        "--smart-link",
        dest="smart_links",
        action="append",
        default=[],
        metavar="ID",
        help="a smart link id (repeatable)",
    )
    pick.add_argument("--status", help="photo requests with this status")
    pick.add_argument("--created-after", metavar="ISO", help="photo requests created after")
    pick.add_argument("--created-before", metavar="ISO", help="photo requests created before")
    active = pick.add_mutually_exclusive_group()
    active.add_argument(
        "--active",
        dest="is_active",
        action="store_const",
        const=True,
        default=None,
        help="active smart links",
    )
    active.add_argument(
        "--inactive",
        dest="is_active",
        action="store_const",
        const=False,
        help="archived smart links",
    )
    pick.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=None,
        metavar="TAG",
        help="smart links with this tag (repeatable)",
    )
    how = parser.add_argument_group("how")
    how.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="parallel downloads (16)"
    )
    how.add_argument(
        "--variant",
        choices=["original", "thumbnail", "both"],
        default="original",
        help="which files to fetch (original)",
    )
    how.add_argument(
        "--template",
        default=DEFAULT_TEMPLATE,
        help=f"naming template (default {DEFAULT_TEMPLATE.replace('%', '%%')})",
    )
    how.add_argument("--sidecar", action="store_true", help="write <file>.json metadata")
    how.add_argument("--fsync", action="store_true", help="fsync every file (slower)")
    how.add_argument(
        "--max-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait at most this long in all for the API's hourly budget, then stop cleanly "
        "(a re-run resumes); default: wait as long as it takes",
    )
    how.add_argument("--quiet", action="store_true", help="no progress display")
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--api-key",
        default=None,
        help="the API key (default $VISIONO_API_KEY; prefer the variable: flags are visible "
        "to other users of this machine)",
    )
    conn.add_argument("--base-url", default=None, help="the API root (default $VISIONO_BASE_URL)")
    parser.set_defaults(func=run_archive)


async def run_archive(args: argparse.Namespace) -> int:
    """Run ``visiono archive``; returns 0 when every file was archived, 1 when some failed,
    2 when the run could not proceed (bad key, unusable destination, ...)."""
    from .. import VisionoClient
    from .._exceptions import VisionoError
    from ..download import (
        ArchiveError,
        ArchiveReport,
        PlainProgress,
        RichProgress,
        archive,
        terminal_progress,
    )

    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    progress: PlainProgress | RichProgress | None = None
    report: ArchiveReport | None = None
    try:
        async with VisionoClient(api_key=args.api_key, base_url=args.base_url) as client:
            progress = None if args.quiet else terminal_progress(sys.stderr)
            report = await archive(
                client,
                args.dest,
                photo_requests=args.photo_requests,
                smart_links=args.smart_links,
                status=args.status,
                created_after=args.created_after,
                created_before=args.created_before,
                is_active=args.is_active,
                tags=args.tags,
                concurrency=args.concurrency,
                variant=args.variant,
                template=args.template,
                sidecar=args.sidecar,
                fsync=args.fsync,
                max_wait=args.max_wait,
                on_progress=progress,
            )
    except ArchiveError as exc:
        _close(progress)
        print(f"error: {exc}", file=sys.stderr)
        if exc.report is not None:
            print(exc.report.summary())
        return 2
    except (VisionoError, ValueError) as exc:
        _close(progress)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        _close(progress)
        raise
    _close(progress)
    print(report.summary())
    return 0 if report.ok else 1


def _close(progress: object) -> None:
    close = getattr(progress, "close", None)
    if close is not None:
        close()
