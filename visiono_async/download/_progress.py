"""Progress events for programs (a callback or an async iterator) and bars for terminals."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import IO, Literal

import attrs

__all__ = [
    "PlainProgress",
    "ProgressCallback",
    "ProgressEvent",
    "ProgressKind",
    "RichProgress",
    "terminal_progress",
]

ProgressKind = Literal[
    "batch",
    "file_started",
    "bytes",
    "file_done",
    "file_skipped",
    "file_failed",
    "waiting",
    "finished",
]


@attrs.frozen
class ProgressEvent:
    """Something happened in an archive run.

    Kinds: ``"batch"`` (a batch's URLs arrived: ``files`` more files are known),
    ``"file_started"``, ``"bytes"`` (``bytes`` more were written), ``"file_done"``,
    ``"file_skipped"`` (complete from an earlier run), ``"file_failed"`` (``message`` says
    why), ``"waiting"`` (for the API's rate limit or hourly budget: ``until`` says until
    when, ``message`` why), ``"finished"``. Counters are running totals for the whole run.

    Attributes:
        kind: What happened.
        file_id: The file concerned, when one is.
        path: Its path relative to ``dest``, when known.
        bytes: For ``"bytes"``, the increment; for ``"file_done"``, the file's size.
        message: For ``"file_failed"``, the reason and message; for ``"batch"``, the key.
        files_total: Files known so far (grows as batches arrive).
        files_done: Files downloaded so far.
        files_skipped: Files skipped so far.
        files_failed: Files failed so far.
        bytes_done: Bytes written so far.
        bytes_total: Expected bytes of the known files still to download plus those done
            (an estimate; providers round sizes).
        until: For ``"waiting"``, when the wait ends (aware UTC).
    """

    kind: ProgressKind
    file_id: str | None = None
    path: str | None = None
    bytes: int = 0
    message: str | None = None
    files_total: int = 0
    files_done: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    until: dt.datetime | None = None


ProgressCallback = Callable[[ProgressEvent], None]
"""Called synchronously on the event loop: keep it quick."""

_ROUTINE = frozenset({"bytes", "file_done", "file_skipped"})
_RICH_INTERVAL = 0.05


class PlainProgress:
    """A line of text every ``interval`` seconds and at the end; for pipes and logs."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 1.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._last = 0.0
        self._started = time.monotonic()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "waiting":
            print(_waiting(event), file=self._stream, flush=True)
            return
        now = time.monotonic()
        if event.kind != "finished" and now - self._last < self._interval:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        rate = event.bytes_done / elapsed / (1 << 20)
        handled = event.files_done + event.files_skipped + event.files_failed
        print(
            f"{handled}/{event.files_total} files ({event.files_done} new,"
            f" {event.files_skipped} skipped, {event.files_failed} failed),"
            f" {event.bytes_done / (1 << 20):.1f} MiB, {rate:.1f} MiB/s",
            file=self._stream,
            flush=True,
        )

    def close(self) -> None:
        """Nothing to release."""


class RichProgress:
    """A rich progress bar: files, bytes, rate and ETA. Needs the ``progress`` extra.

    Pass the instance as ``on_progress`` and call ``close()`` after the run.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]archiving"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream if stream is not None else sys.stderr),
        )
        self._task = self._progress.add_task("archive", total=None, files="0/0 files")
        self._last = 0.0
        self._progress.start()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "file_started":
            return
        if event.kind == "waiting":
            self._progress.console.print(_waiting(event))
            return
        # The bar redraws ten times a second: updating it on every event of a run over
        # thousands of small files spends the event loop's time (a few µs a call, three
        # calls a file) on values nobody sees. The last state always shows ("finished").
        now = time.monotonic()
        if event.kind in _ROUTINE and now - self._last < _RICH_INTERVAL:
            return
        self._last = now
        handled = event.files_done + event.files_skipped + event.files_failed
        files = f"{handled}/{event.files_total} files"
        if event.files_failed:
            files += f" ({event.files_failed} failed)"
        self._progress.update(
            self._task,
            completed=event.bytes_done,
            total=event.bytes_total or None,
            files=files,
        )

    def close(self) -> None:
        """Stop the live display."""
        self._progress.stop()


def _waiting(event: ProgressEvent) -> str:
    until = f" until {event.until:%H:%M:%S} UTC" if event.until is not None else ""
    return f"waiting{until}: {event.message or 'for the API'}"


def terminal_progress(stream: IO[str] | None = None) -> PlainProgress | RichProgress:
    """A rich bar on a terminal when rich is installed, else plain periodic lines."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        try:
            return RichProgress(out)
        except ImportError:
            pass
    return PlainProgress(out)
