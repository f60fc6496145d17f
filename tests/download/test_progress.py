"""Progress renderers: a rich bar and plain lines, both fed by ProgressEvent."""

from __future__ import annotations

import io

from visiono_async.download import PlainProgress, ProgressEvent, RichProgress, terminal_progress


def events() -> list[ProgressEvent]:
    return [
        ProgressEvent("batch", message="pr_1", files_total=2, bytes_total=2048),
        ProgressEvent("file_started", file_id="a", files_total=2, bytes_total=2048),
        ProgressEvent("bytes", bytes=1024, files_total=2, bytes_done=1024, bytes_total=2048),
        ProgressEvent(
            "file_done",
            file_id="a",
            path="pr_1/a.jpg",
            bytes=1024,
            files_total=2,
            files_done=1,
            bytes_done=1024,
            bytes_total=2048,
        ),
        ProgressEvent(
            "file_failed",
            file_id="b",
            message="http_404: gone",
            files_total=2,
            files_done=1,
            files_failed=1,
            bytes_done=1024,
            bytes_total=2048,
        ),
        ProgressEvent(
            "finished",
            files_total=2,
            files_done=1,
            files_failed=1,
            bytes_done=1024,
            bytes_total=2048,
        ),
    ]


class TestPlainProgress:
    def test_prints_counts_and_the_final_line(self) -> None:
        """Throttled lines, and always one at the end."""
        out = io.StringIO()
        progress = PlainProgress(out, interval=3600)
        for event in events():
            progress(event)
        progress.close()
        lines = out.getvalue().splitlines()
        assert "2/2 files (1 new, 0 skipped, 1 failed)" in lines[-1]


class TestRichProgress:
    def test_renders_files_and_bytes(self) -> None:
        """The bar shows handled/total files and the failure count."""
        out = io.StringIO()
        progress = RichProgress(out)
        for event in events():
            progress(event)
        progress.close()
        assert "2/2 files (1 failed)" in out.getvalue()


def test_terminal_progress_is_plain_off_a_terminal() -> None:
    """Pipes and logs get plain lines."""
    assert isinstance(terminal_progress(io.StringIO()), PlainProgress)
