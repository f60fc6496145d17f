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
        assert "2/2 files: 1 new, 0 skipped, 1 failed; 1.0 KiB at " in lines[-1]


class TestRichProgress:
    def test_renders_files_and_bytes(self) -> None:
        """The bar shows handled/total files and the failure count."""
        out = io.StringIO()
        progress = RichProgress(out)
        for event in events():
            progress(event)
        progress.close()
        assert "2/2 files (1 failed)" in out.getvalue()

    def test_bursts_are_coalesced_and_the_end_is_shown(self) -> None:
        """Thousands of file events redraw the bar a few times; the final count shows."""
        out = io.StringIO()
        progress = RichProgress(out)
        bar = progress._progress
        updates = 0
        update = bar.update

        def counting_update(*args: object, **kwargs: object) -> None:
            nonlocal updates
            updates += 1
            update(*args, **kwargs)  # type: ignore[arg-type]

        bar.update = counting_update  # type: ignore[method-assign]
        total = 3000
        for n in range(1, total + 1):
            progress(ProgressEvent("file_done", files_total=total, files_done=n, bytes_done=n))
        progress(ProgressEvent("finished", files_total=total, files_done=total))
        progress.close()

        assert updates < 100
        assert f"{total}/{total} files" in out.getvalue()


def test_terminal_progress_is_plain_off_a_terminal() -> None:
    """Pipes and logs get plain lines."""
    assert isinstance(terminal_progress(io.StringIO()), PlainProgress)
