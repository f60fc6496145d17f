"""What a person sees while an archive runs: the progress display, the waits, and the
partial report when Ctrl-C stops the run."""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import WaitNotice
    from ..download import PlainProgress, ProgressEvent, RichProgress

__all__ = ["RunDisplay", "resume_command", "wait_text"]

SHOWN_WAIT = 2.0
"""Waits at least this long (seconds) get a line of their own."""

_SECRET_FLAGS = frozenset({"--api-key"})


def wait_text(notice: WaitNotice) -> str:
    """``waiting 42 s for the API rate limit``: one line for a wait the client announced."""
    seconds = math.ceil(notice.seconds)
    until = notice.until.astimezone().strftime("%H:%M:%S")
    if notice.reason in ("rate_limit", "server_reset"):
        why = "for the API rate limit"
    elif notice.reason == "retry_backoff":
        why = f"before retrying {notice.method} {notice.path}"
    elif "hour" in notice.reason:
        why = "for the API's hourly budget"
    else:
        why = f"({str(notice.reason).replace('_', ' ')})"
    return f"waiting {seconds} s {why} (until {until})"


def resume_command(argv: Sequence[str]) -> str:
    """The command line that resumes a run, for the partial report; the API key left out."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _SECRET_FLAGS:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return shlex.join(["visiono", *kept])


BUDGET_WAIT = "the API budget"
"""How the archive's own waits for the API budget begin (``"waiting"`` events); the other
``"waiting"`` events repeat what the client told :meth:`RunDisplay.note_wait`."""


class RunDisplay:
    """The progress display of one run, the latest event, and the lines around them.

    Pass it as ``on_progress`` and as a client's wait listener (``note_wait``).
    """

    def __init__(self, *, show: bool) -> None:
        from ..download import terminal_progress

        self.bar: PlainProgress | RichProgress | None = (
            terminal_progress(sys.stderr) if show else None
        )
        self.latest: ProgressEvent | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "waiting" and not (event.message or "").startswith(BUDGET_WAIT):
            return  # a wait the client announced: note_wait shows it, in its own words
        self.latest = event
        if self.bar is not None:
            self.bar(event)

    def note_wait(self, notice: WaitNotice) -> None:
        """Show a wait the client is about to make, when it is long enough to notice."""
        if self.bar is not None and notice.seconds >= SHOWN_WAIT:
            self.bar.note(wait_text(notice))

    def close(self) -> None:
        """Stop the bar (idempotent)."""
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()

    def interrupted(self, dest: str, resume: str | None) -> str:
        """The partial report after Ctrl-C: archived, remaining, how to resume (``resume``
        is the command to run again; ``None`` when there is none)."""
        event = self.latest
        lines = ["interrupted (Ctrl-C): the files archived so far are kept and recorded"]
        if event is None:
            lines.append("nothing was archived yet")
        else:
            from ..download._report import format_size

            archived = event.files_done + event.files_skipped
            remaining = max(event.files_total - event.files_handled, 0)
            lines.append(
                f"{archived} archived ({event.files_done} new, {event.files_skipped} already"
                f" there, {format_size(event.bytes_done)}), {event.files_failed} failed,"
                f" {remaining} remaining"
                + (" among those listed; the listing had not finished" if event.listing else "")
            )
        lines.append(f"files in {dest}")
        if resume is not None:
            lines.append(f"to resume (only what is missing is fetched): {resume}")
        return "\n".join(lines)
