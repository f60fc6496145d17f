"""The ``visiono`` command: ``demo``, ``archive`` and ``emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import sys
from collections.abc import Iterator, Sequence

import anyio

from .._version import __version__
from . import _demo, _emulator

__all__ = ["build_parser", "main"]

_VERBOSE_HELP = (
    "show API calls: method, path, status, time (-vv: each attempt as sent, and storage requests)"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered.

    ``-v`` is accepted before and after the subcommand (``visiono -v archive DEST`` and
    ``visiono archive DEST -v``); the counts add up.
    """
    parser = argparse.ArgumentParser(
        prog="visiono",
        description="Visiono photo-collection API: bulk archiving, a local emulator and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _demo.register(subparsers)
    _register_archive(subparsers)
    _register_verify(subparsers)
    _emulator.register(subparsers)
    for sub in subparsers.choices.values():
        # A dest of its own: a subcommand's namespace is copied over the main one, so a
        # shared dest would replace the count given before the subcommand.
        sub.add_argument(
            "-v", "--verbose", dest="verbose_after", action="count", default=0, help=_VERBOSE_HELP
        )
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


class _CurrentStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time, so a live progress bar that
    redirects it prints log lines above the bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


_LOGGERS = ("visiono_async", "visiono_async.storage", "visiono_async.send", "visiono_async.testing")
"""The loggers :func:`logging_for` sets up (and puts back as they were)."""


@contextlib.contextmanager
def logging_for(verbosity: int) -> Iterator[None]:
    """What the command logs: nothing without ``-v``; API calls with ``-v``; storage
    requests and the emulator's own messages too with ``-vv``. The loggers are put back
    as they were on the way out, so ``main()`` called in a process that logs (a test, an
    app) leaves its logging alone."""
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    saved = [(lg, lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
    package = loggers[0]
    try:
        if verbosity <= 0:
            # Errors reach the user as sentences and exit codes; without a handler of its
            # own, Python's last-resort handler would print the library's warnings as
            # stray lines.
            package.addHandler(logging.NullHandler())
            package.propagate = False
        else:
            handler = _CurrentStderr()
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
            package.addHandler(handler)
            package.setLevel(logging.DEBUG)
            package.propagate = False
            quiet_unless_vv = logging.DEBUG if verbosity > 1 else logging.WARNING
            for child in loggers[1:]:
                child.setLevel(quiet_unless_vv)
        yield
    finally:
        for lg, level, propagate, handlers in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (130 after Ctrl-C)."""
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for "how to resume"
        with logging_for(args.verbose + args.verbose_after):
            code: int = anyio.run(args.func, args, backend_options=_backend_options())
    except KeyboardInterrupt:
        _interrupted(args)
        return 130
    except asyncio.CancelledError:
        # Python 3.10: the runner's Ctrl-C handler cancels the main task, and without
        # Task.uncancel() it cannot turn that back into KeyboardInterrupt. Nothing else
        # holds the main task, so a cancellation escaping here is Ctrl-C.
        if sys.version_info >= (3, 11):
            raise
        _interrupted(args)
        return 130
    return code


def _interrupted(args: argparse.Namespace | None) -> None:
    # A command that printed its own partial report has said it already.
    if not getattr(args, "interrupt_reported", False):
        print("interrupted", file=sys.stderr)
