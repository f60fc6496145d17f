"""Progress events for programs (a callback or an async iterator) and bars for terminals."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO, Literal

import attrs

from ._report import format_size

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
        files_failed: Files failed so far (a photo request that could not be listed is in
            the report, not here).
        bytes_done: Bytes written so far.
        bytes_total: Expected bytes of the known files still to download plus those done
            (an estimate; providers round sizes).
        listing: True while the selection is still being listed, so ``files_total`` and
            ``bytes_total`` may still grow.
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
    listing: bool = False

    @property
    def files_handled(self) -> int:
        """Files downloaded, skipped or failed so far."""
        return self.files_done + self.files_skipped + self.files_failed


ProgressCallback = Callable[[ProgressEvent], None]
"""Called synchronously on the event loop: keep it quick."""

_ROUTINE = frozenset({"bytes", "file_done", "file_skipped"})


def _files_text(event: ProgressEvent) -> str:
    """``12/40 files`` or, while the total still grows, ``12/40+ files (listing...)``."""
    if event.listing:
        return f"{event.files_handled}/{event.files_total}+ files (listing...)"
    return f"{event.files_handled}/{event.files_total} files"


class PlainProgress:
    """A line of text every ``interval`` seconds and at the end; for pipes and logs.

    Every line has the same shape, in the units of the report (binary: KiB, MiB, GiB)::

        12/40 files: 10 new, 2 skipped, 0 failed; 38.2 MiB at 25.3 MiB/s
    """

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 1.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._last = 0.0
        self._started = time.monotonic()
        self._latest: ProgressEvent | None = None
        self._shown: ProgressEvent | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "waiting":
            print(_waiting(event), file=self._stream, flush=True)
            return
        self._latest = event
        now = time.monotonic()
        if event.kind != "finished" and now - self._last < self._interval:
            return
        self._last = now
        self._show(event, now)

    def _show(self, event: ProgressEvent, now: float) -> None:
        self._shown = event
        elapsed = max(now - self._started, 1e-9)
        rate = event.bytes_done / elapsed
        self._print(
            f"{_files_text(event)}: {event.files_done} new, {event.files_skipped} skipped,"
            f" {event.files_failed} failed; {format_size(event.bytes_done)}"
            f" at {format_size(rate)}/s"
        )

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)

    def note(self, text: str) -> None:
        """Print a line of its own (a wait, a warning) between the progress lines."""
        self._print(text)

    def close(self) -> None:
        """Print the latest state if the last line shown is older (a run cut short)."""
        latest = self._latest
        if latest is not None and latest is not self._shown:
            self._show(latest, time.monotonic())


class RichProgress:
    """A rich progress bar: files, bytes, rate and ETA, in binary units.

    Pass the instance as ``on_progress`` and call ``close()`` after the run. While the
    selection is still being listed the bar pulses and the files read ``12/40+ files
    (listing...)``: the total is not known yet.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console, RenderableType
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        owner = self
        self._latest: ProgressEvent | None = None
        self._applied: ProgressEvent | None = None
        self._started = time.monotonic()

        class _Progress(Progress):
            def get_renderables(self) -> Iterable[RenderableType]:
                # Called by the refresh thread before each redraw (ten a second).
                owner._apply_latest()
                yield from super().get_renderables()

        self._progress = _Progress(
            TextColumn("[bold]archiving"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[files]}"),
            # The report's units and its rate (the average so far), not rich's decimal ones.
            TextColumn("[progress.download]{task.fields[volume]}"),
            TimeRemainingColumn(),
            console=Console(file=stream if stream is not None else sys.stderr),
        )
        self._task = self._progress.add_task(
            "archive", total=None, files="0/0+ files (listing...)", volume=""
        )
        self._progress.start()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "file_started":
            return
        if event.kind == "waiting":
            self._progress.console.print(_waiting(event))
            return
        # Routine events only replace the latest state, which the next redraw shows:
        # updating the bar on every event of a run over thousands of small files spends
        # the event loop's time on values nobody sees, and a throttle that drops events
        # leaves a stale count on screen while the run waits (2/6 files with 6 on disk).
        self._latest = event
        if event.kind not in _ROUTINE:
            self._apply_latest()

    def _apply_latest(self) -> None:
        event = self._latest
        if event is None or event is self._applied:
            return
        self._applied = event
        files = _files_text(event)
        if event.files_failed:
            files += f" ({event.files_failed} failed)"
        rate = event.bytes_done / max(time.monotonic() - self._started, 1e-9)
        if event.kind == "finished":
            total: int | None = event.bytes_done  # sizes are estimates: end on a full bar
        elif event.listing:
            # Unknown while listing: a pulsing bar and no ETA rather than a bar that
            # jumps back each time a batch arrives.
            total = None
        else:
            total = max(event.bytes_total, event.bytes_done) or None
        self._progress.update(
            self._task,
            completed=event.bytes_done,
            total=total,
            files=files,
            volume=f"{format_size(event.bytes_done)} at {format_size(rate)}/s",
        )

    def note(self, text: str) -> None:
        """Print a line above the bar (a wait, a warning)."""
        self._progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        """Stop the live display."""
        self._progress.stop()


def _waiting(event: ProgressEvent) -> str:
    until = f" until {event.until:%H:%M:%S} UTC" if event.until is not None else ""
    return f"waiting{until}: {event.message or 'for the API'}"


def terminal_progress(stream: IO[str] | None = None) -> PlainProgress | RichProgress:
    """A rich bar on a terminal, else plain periodic lines."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        try:
            return RichProgress(out)
        except ImportError:  # rich is a dependency; a trimmed install may still lack it
            pass
    return PlainProgress(out)
