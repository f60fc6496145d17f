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


class TestOneUnitSystem:
    def test_plain_lines_say_listing_while_the_total_grows(self) -> None:
        """A growing total is marked, and the final total is not."""
        out = io.StringIO()
        progress = PlainProgress(out, interval=0)
        progress(ProgressEvent("batch", files_total=5, listing=True))
        progress(ProgressEvent("finished", files_total=40, files_done=40, bytes_done=3 << 20))
        first, last = out.getvalue().splitlines()
        assert first.startswith("0/5+ files (listing...): 0 new, 0 skipped, 0 failed; 0 B at ")
        assert last.startswith("40/40 files: 40 new, 0 skipped, 0 failed; 3.0 MiB at ")
        assert last.endswith("/s")

    def test_close_shows_the_state_a_throttled_line_left_out(self) -> None:
        """Cut short between two lines, the last line printed matches what was done."""
        out = io.StringIO()
        progress = PlainProgress(out, interval=3600)
        progress(ProgressEvent("batch", files_total=10, listing=True))
        for n in range(1, 11):
            progress(ProgressEvent("file_done", files_total=10, files_done=n, listing=True))
        progress.close()
        assert out.getvalue().splitlines()[-1].startswith("10/10+ files (listing...): 10 new")

    def test_the_bar_uses_the_reports_units(self) -> None:
        """MiB and MiB/s on the bar as in the summary, never MB or kB."""
        out = io.StringIO()
        progress = RichProgress(out)
        progress(ProgressEvent("batch", files_total=1, bytes_total=5 << 20))
        progress(ProgressEvent("finished", files_total=1, files_done=1, bytes_done=5 << 20))
        progress.close()
        text = out.getvalue()
        assert "1/1 files" in text
        assert "5.0 MiB at " in text
        assert "MB" not in text.replace("MiB", "")

    def test_notes_print_between_progress(self) -> None:
        """A wait line is printed whole on either display."""
        plain, fancy = io.StringIO(), io.StringIO()
        PlainProgress(plain).note("waiting 42 s for the API rate limit")
        bar = RichProgress(fancy)
        bar.note("waiting 42 s for the API rate limit")
        bar.close()
        assert "waiting 42 s for the API rate limit\n" == plain.getvalue()
        assert "waiting 42 s for the API rate limit" in fancy.getvalue()

    def test_the_bar_shows_the_latest_count_when_events_stop(self) -> None:
        """Files done in a burst, then a long wait: the bar shows them all, not the first."""
        out = io.StringIO()
        progress = RichProgress(out)
        for n in range(1, 7):
            progress(ProgressEvent("file_done", files_total=6, files_done=n, listing=True))
        progress.close()
        assert "6/6+ files (listing...)" in out.getvalue()
