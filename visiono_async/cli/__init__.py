"""The ``visiono`` command: ``demo``, ``archive`` and ``emulator``."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import sys
from collections.abc import Sequence

import anyio

from .._version import __version__
from . import _demo, _emulator

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="visiono",
        description="Visiono photo-collection API: bulk archiving, a local emulator and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log API calls (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _demo.register(subparsers)
    _register_archive(subparsers)
    _register_verify(subparsers)
    _emulator.register(subparsers)
    return parser


def _register_archive(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from . import _archive

    _archive.register(subparsers)


def _register_verify(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from . import _verify

    _verify.register(subparsers)


def _backend_options() -> dict[str, object]:
    """How the command runs its event loop: on uvloop when it is installed.

    A program that imports the library keeps its own loop; the command owns its process, and
    an archive of many small files is bound by the event loop, which uvloop runs faster.
    """
    if importlib.util.find_spec("uvloop") is None:
        return {}
    return {"use_uvloop": True}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose > 1 else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    try:
        code: int = anyio.run(args.func, args, backend_options=_backend_options())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        # Python 3.10: the runner's Ctrl-C handler cancels the main task, and without
        # Task.uncancel() it cannot turn that back into KeyboardInterrupt. Nothing else
        # holds the main task, so a cancellation escaping here is Ctrl-C.
        if sys.version_info >= (3, 11):
            raise
        print("interrupted", file=sys.stderr)
        return 130
    return code
