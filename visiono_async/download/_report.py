"""The result of an archive run: counts, failures with reasons, and a human summary."""

from __future__ import annotations

from collections import Counter

import attrs

from .._exceptions import DownloadError
from .._selection import Selection

__all__ = ["ArchiveError", "ArchiveReport", "FailedFile", "format_size"]


@attrs.frozen
class FailedFile:
    """A file that could not be archived.

    Attributes:
        submission_id: The submission (or, for custom sources, the file id).
        path: The path relative to ``dest`` it would have had, when computed.
        reason: A short cause such as ``"size_mismatch"``, ``"error_body"``,
            ``"expired_url"``, ``"http_404"``, ``"body_cut"``, ``"disk_full"``; for a whole
            photo request or smart link, ``"not_found"`` (the API does not know the id)
            or ``"batch_failed"`` (its ``download-urls`` call failed otherwise).
        message: What happened, for humans.
    """

    submission_id: str
    path: str | None
    reason: str
    message: str


def format_size(n: float) -> str:
    """Bytes in binary units, the one unit system of reports and progress (``12.3 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _failure_line(failed: FailedFile) -> str:
    if failed.reason == "not_found":  # the message names the photo request or smart link
        return f"  {failed.message}"
    where = f" ({failed.path})" if failed.path else ""
    return f"  {failed.submission_id}{where}: {failed.reason}: {failed.message}"


@attrs.frozen(kw_only=True)
class ArchiveReport:
    """What an archive run did.

    Attributes:
        downloaded: Files written in this run.
        skipped: Files already complete in ``dest`` (per the manifest), left untouched.
        failed: Files that could not be archived, with reasons.
        bytes: Bytes written in this run.
        elapsed: Wall-clock seconds of the run.
        api_calls: API calls the client sent during the run (listing pages and
            ``download-urls``, retries included); for a custom source without a client,
            the batch fetches.
        dest: The destination folder.
        waited: Seconds the run waited for the API budget (see ``archive(max_wait=)``).
        selection: What the run was asked to archive from Visiono; ``None`` for a
            custom source.
    """

    downloaded: int
    skipped: int
    failed: list[FailedFile]
    bytes: int
    elapsed: float
    api_calls: int
    dest: str = ""
    waited: float = 0.0
    selection: Selection | None = None

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> str:
        """A few lines for humans: counts, volume, rate, API calls and failures by reason
        (and, when a Visiono selection found nothing at all, that selection)."""
        rate = self.bytes / self.elapsed if self.elapsed > 0 else 0.0
        lines = [
            f"{self.downloaded} downloaded, {self.skipped} skipped, {len(self.failed)} failed"
            f" - {format_size(self.bytes)} in {self.elapsed:.1f}s ({format_size(rate)}/s),"
            f" {self.api_calls} API calls",
        ]
        if self.dest:
            lines.append(f"files in {self.dest}")
        if self.selection is not None and not (self.downloaded or self.skipped or self.failed):
            # Said only when it explains something: a filter that matched nothing, say.
            lines.append(f"nothing to archive (selected: {self.selection})")
        if self.waited:
            lines.append(f"waited {self.waited:.0f}s for the API budget")
        if self.failed:
            by_reason = Counter(f.reason for f in self.failed)
            if len(self.failed) > 1:
                lines.append(
                    "failures: " + ", ".join(f"{r} x{n}" for r, n in sorted(by_reason.items()))
                )
            for f in self.failed[:10]:
                lines.append(_failure_line(f))
            if len(self.failed) > 10:
                lines.append(f"  ... and {len(self.failed) - 10} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


class ArchiveError(DownloadError):
    """The run stopped early: the destination is unusable (full disk, not writable, busy),
    the manifest is damaged or unwritable, or the API budget ran out past ``max_wait``.

    Attributes:
        report: What the run had done before it stopped (``archive`` always sets it).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        report: ArchiveReport | None = None,
        submission_id: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason, submission_id=submission_id)
        self.report = report
