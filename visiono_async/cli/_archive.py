"""``visiono archive DEST``: archive photo requests and smart links to a folder."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

if TYPE_CHECKING:
    from .._selection import Selection

__all__ = ["check_input", "prefix_hint", "register", "run_archive", "selection_from"]


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
        help="smart links with this tag (repeatable; --tag a,b is --tag a --tag b)",
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
        "--shared",
        action="store_true",
        help="let other --shared runs archive into DEST at the same time (each file once)",
    )
    how.add_argument(
        "--max-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait at most this long in all for the API's hourly budget, then stop cleanly "
        "(a re-run resumes); default: wait as long as it takes",
    )
    how.add_argument(
        "--max-attempts",
        type=int,
        default=None,
        metavar="N",
        help="attempts per file on connection errors, cut bodies, 5xx, 408, 425 and 429 (5)",
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
    2 when the run could not proceed (bad key, bad input, unusable destination, ...), 130
    after Ctrl-C (with the partial report)."""
    problem = check_input(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from .. import VisionoClient
    from .._exceptions import APIError, VisionoError
    from ..download import ArchiveError, ArchiveReport, archive
    from ._display import RunDisplay, resume_command

    dest = await anyio.to_thread.run_sync(os.path.abspath, args.dest)
    display = RunDisplay(show=not args.quiet)
    report: ArchiveReport | None = None
    base_url = ""
    try:
        async with VisionoClient(api_key=args.api_key, base_url=args.base_url) as client:
            base_url = client.config.base_url
            client.add_wait_listener(display.note_wait)
            report = await archive(
                client,
                dest,
                selection_from(args),
                concurrency=args.concurrency,
                variant=args.variant,
                template=args.template,
                sidecar=args.sidecar,
                fsync=args.fsync,
                max_wait=args.max_wait,
                max_attempts=args.max_attempts,
                on_progress=display,
                shared_dest=args.shared,
            )
    except ArchiveError as exc:
        display.close()
        print(f"error: {exc}", file=sys.stderr)
        if exc.report is not None:
            print(exc.report.summary())
        return 2
    except APIError as exc:
        display.close()
        print(f"error: {exc}", file=sys.stderr)
        if exc.status_code == 404 and (hint := prefix_hint(base_url)):
            print(hint, file=sys.stderr)
        return 2
    except (VisionoError, ValueError) as exc:
        display.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, anyio.get_cancelled_exc_class()):
        # Ctrl-C: archive() has recorded every finished file in the manifest by now.
        display.close()
        print(display.interrupted(dest, resume_command(getattr(args, "argv", sys.argv[1:]))))
        args.interrupt_reported = True
        raise
    except BaseException:
        display.close()
        raise
    display.close()
    print(report.summary())
    if any(f.reason == "not_found" for f in report.failed) and (hint := prefix_hint(base_url)):
        print(hint, file=sys.stderr)
    return 0 if report.ok else 1


def check_input(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, found before any call; ``None`` when nothing."""
    from .._ids import validate_id
    from ..download import validate_template

    if args.concurrency < 1:
        return "--concurrency must be at least 1"
    if args.max_attempts is not None and args.max_attempts < 1:
        return "--max-attempts must be at least 1"
    for flag, ids in (("--photo-request", args.photo_requests), ("--smart-link", args.smart_links)):
        for value in ids:
            try:
                validate_id(value, name=flag)
            except ValueError as exc:
                return f"{exc}: not a valid id"
    for flag, value in (
        ("--created-after", args.created_after),
        ("--created-before", args.created_before),
    ):
        if value is not None:
            try:
                _moment(value)
            except ValueError as exc:
                return f"{flag}: {exc}"
    try:
        selection_from(args)
    except ValueError as exc:
        return str(exc)
    try:
        validate_template(args.template)
    except ValueError as exc:
        return f"--template: {exc}"
    key = args.api_key if args.api_key is not None else os.environ.get("VISIONO_API_KEY")
    if key is None or not key.strip():
        return (
            "no API key: set the VISIONO_API_KEY environment variable (or pass --api-key KEY,"
            " which other users of this machine can see in the process list)"
        )
    return None


def selection_from(args: argparse.Namespace) -> Selection:
    """The :class:`~visiono_async.Selection` the flags choose (``--tag a,b`` is two tags).

    Raises:
        ValueError: A flag's value cannot be part of a selection (see ``Selection``).
    """
    from .._selection import Selection

    tags = None
    if args.tags is not None:
        tags = [tag.strip() for value in args.tags for tag in value.split(",")]
    return Selection(
        photo_requests=args.photo_requests,
        smart_links=args.smart_links,
        status=args.status,
        created_after=None if args.created_after is None else _moment(args.created_after),
        created_before=None if args.created_before is None else _moment(args.created_before),
        is_active=args.is_active,
        tags=tags,
    )


def _moment(value: str) -> dt.datetime:
    """An ISO 8601 flag value as an aware datetime (naive means UTC), as ``Selection`` reads it."""
    from .._converter import parse_datetime

    return parse_datetime(value)


def prefix_hint(base_url: str) -> str | None:
    """A hint when a base URL that answered 404 has no API version prefix (``/api/v1``)."""
    if not base_url:
        return None
    path = urlsplit(base_url).path.rstrip("/")
    if re.search(r"/v\d+$", path):
        return None
    return f"hint: {base_url} has no API prefix; did you mean {base_url.rstrip('/')}/api/v1?"
