"""File fetches retry by the RetryPolicy API calls use: attempts, backoff, retryable statuses."""

from __future__ import annotations

import email.utils
import time
import warnings
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from archive_helpers import files_under, seed

from visiono_async import RetryPolicy
from visiono_async.download import DOWNLOAD_RETRY, FetchSettings, archive


def storage_gets(emulator: Any) -> int:
    return int(emulator.count("GET", "/storage/"))


def reasons(report: Any) -> list[str]:
    return [f.reason for f in report.failed]


QUICK = RetryPolicy(max_retries=4, backoff_base=0.0)
"""Five attempts without waiting between them."""


class TestDefaults:
    def test_the_download_policy(self) -> None:
        """5 attempts, 0.25 s doubling to 8 s, every 5xx and 408, 425, 429: as before."""
        assert DOWNLOAD_RETRY is FetchSettings().retry
        assert (4, 0.25, 8.0) == (
            DOWNLOAD_RETRY.max_retries,
            DOWNLOAD_RETRY.backoff_base,
            DOWNLOAD_RETRY.backoff_max,
        )
        assert frozenset({408, 425, 429, 500, 502, 503, 504}) == DOWNLOAD_RETRY.retry_statuses

    @pytest.mark.parametrize("status", [500, 502, 503, 504, 507, 408, 425, 429])
    async def test_these_answers_are_retried(
        self, client: Any, emulator: Any, dest: Path, status: int
    ) -> None:
        """One such answer, then the file: archived on the second GET."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=status, path="/storage/", body="busy")

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], backoff=0)

        assert ([], 1) == (report.failed, report.downloaded)
        assert 2 == storage_gets(emulator)

    @pytest.mark.parametrize("status", [400, 404, 409, 418, 451])
    async def test_these_answers_fail_at_once(
        self, client: Any, emulator: Any, dest: Path, status: int
    ) -> None:
        """Any other error answer is final: one GET, reason ``http_<status>``."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=status, path="/storage/", body="no")

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], backoff=0)

        assert [f"http_{status}"] == reasons(report)
        assert 1 == storage_gets(emulator)

    async def test_five_attempts_per_file(self, client: Any, emulator: Any, dest: Path) -> None:
        """A file storage keeps refusing with a 500 is tried five times, then reported."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(100, status=500, path="/storage/")

        report = await archive(client, dest, photo_requests=[seeded.photo_request_id], backoff=0)

        assert ["http_500"] == reasons(report)
        assert "HTTP 500 (after 5 attempts)" == report.failed[0].message
        assert 5 == storage_gets(emulator)


class TestRetryOption:
    async def test_max_retries_sets_the_attempts(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """``retry=RetryPolicy(max_retries=1)``: two attempts."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(100, status=503, path="/storage/")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            retry=RetryPolicy(max_retries=1, backoff_base=0.0),
        )

        assert ["http_503"] == reasons(report)
        assert 2 == storage_gets(emulator)

    @pytest.mark.parametrize(
        ("status", "gets", "failed"),
        [(503, 2, []), (502, 1, ["http_502"]), (425, 1, ["http_425"])],
        ids=["listed", "5xx-not-listed", "425-not-listed"],
    )
    async def test_retry_statuses_choose_the_retried_answers(
        self, client: Any, emulator: Any, dest: Path, status: int, gets: int, failed: list[str]
    ) -> None:
        """With ``retry_statuses={503}`` only a 503 is retried; a 502 or 425 is final."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=status, path="/storage/", body="busy")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            retry=attrs.evolve(QUICK, retry_statuses={503}),
        )

        assert failed == reasons(report)
        assert gets == storage_gets(emulator)

    async def test_a_listed_404_is_retried(self, client: Any, emulator: Any, dest: Path) -> None:
        """A provider whose files appear late: 404 in ``retry_statuses`` is retried."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(2, status=404, path="/storage/", body="not yet")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            retry=attrs.evolve(QUICK, retry_statuses={404, 500}),
        )

        assert ([], 1) == (report.failed, report.downloaded)
        assert 3 == storage_gets(emulator)

    async def test_a_403_refreshes_whatever_the_statuses_say(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """403 in ``retry_statuses`` still means "refresh the URL", not "ask again"."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=403, path="/storage/", body="<Error/>")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            retry=attrs.evolve(QUICK, retry_statuses={403, 500}),
        )

        assert report.ok
        assert 2 == emulator.count("GET", "download-urls")

    async def test_api_calls_keep_the_clients_policy(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """``retry=`` is the files' policy: a 503 on download-urls is still retried."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=503, path="download-urls")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            retry=RetryPolicy(max_retries=0),
        )

        assert report.ok
        assert 2 == emulator.count("GET", "download-urls")

    async def test_the_client_method_takes_it_too(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """``client.archive(retry=...)`` is the same option."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=503, path="/storage/")

        report = await client.archive(
            dest, photo_requests=[seeded.photo_request_id], retry=RetryPolicy(max_retries=0)
        )

        assert ["http_503"] == reasons(report)
        assert "HTTP 503 (after 1 attempts)" == report.failed[0].message

    async def test_settings_carry_a_policy(self, client: Any, emulator: Any, dest: Path) -> None:
        """``settings=FetchSettings(retry=...)`` is used as it is."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=503, path="/storage/")

        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            settings=FetchSettings(retry=RetryPolicy(max_retries=0)),
        )

        assert ["http_503"] == reasons(report)


class TestBackoff:
    async def test_the_fetch_asks_the_policys_backoff(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """Each wait comes from ``RetryPolicy.backoff``, with storage's HTTP-date Retry-After."""
        noted: list[tuple[int, float | None]] = []

        class Noted(RetryPolicy):
            __slots__ = ()

            def backoff(self, attempt: int, retry_after: float | None = None) -> float:
                noted.append((attempt, retry_after))
                return 0.01

        seeded = await seed(client, emulator, 1)
        retry_at = email.utils.formatdate(time.time() + 3, usegmt=True)
        emulator.faults.fail_next(1, status=503, path="/storage/")
        emulator.faults.fail_next(
            1, status=503, path="/storage/", headers={"Retry-After": retry_at}
        )

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], retry=Noted()
        )

        assert report.ok
        (first, second) = noted
        assert (0, None) == first
        assert 1 == second[0]
        assert second[1] is not None and 1.0 <= second[1] <= 3.0

    async def test_storages_retry_after_is_waited_at_most_backoff_max(
        self, client: Any, emulator: Any, dest: Path
    ) -> None:
        """``Retry-After: 120`` from storage: the file is retried after ``backoff_max``."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(1, status=429, path="/storage/", headers={"Retry-After": "120"})

        with anyio.fail_after(20):
            started = time.monotonic()
            report = await archive(
                client,
                dest,
                photo_requests=[seeded.photo_request_id],
                retry=RetryPolicy(backoff_base=0.01, backoff_max=0.3),
            )
            took = time.monotonic() - started

        assert report.ok
        assert 0.3 <= took
        assert 1 == len(files_under(dest))


class TestShorthand:
    async def test_max_attempts_and_backoff(self, client: Any, emulator: Any, dest: Path) -> None:
        """``max_attempts=2`` is two attempts (``max_retries=1``)."""
        seeded = await seed(client, emulator, 1)
        emulator.faults.fail_next(100, status=500, path="/storage/")

        report = await archive(
            client, dest, photo_requests=[seeded.photo_request_id], max_attempts=2, backoff=0.0
        )

        assert ["http_500"] == reasons(report)
        assert 2 == storage_gets(emulator)

    @pytest.mark.parametrize(
        ("options", "error", "message"),
        [
            (
                {"retry": RetryPolicy(), "max_attempts": 2},
                TypeError,
                r"pass retry=RetryPolicy\(\.\.\.\) or its shorthand max_attempts=, not both",
            ),
            (
                {"retry": RetryPolicy(), "backoff": 0.1},
                TypeError,
                r"pass retry=RetryPolicy\(\.\.\.\) or its shorthand backoff=, not both",
            ),
            (
                {"settings": FetchSettings(), "retry": RetryPolicy()},
                TypeError,
                r"settings= holds retry= \(a FetchSettings field each; the retry options are "
                r"settings\.retry\)",
            ),
            (
                {"settings": FetchSettings(), "max_attempts": 3},
                TypeError,
                r"settings= holds max_attempts= \(a FetchSettings field each; the retry "
                r"options are settings\.retry\)",
            ),
            (
                {"settings": FetchSettings(), "read_timeout": 5.0, "fsync": True},
                TypeError,
                r"settings= holds read_timeout=, fsync= \(a FetchSettings field each",
            ),
            (
                {"settings": FetchSettings(), "chunk_size": 4096},
                TypeError,
                r"settings= holds chunk_size=",
            ),
            (
                {"settings": FetchSettings(), "refresh_margin": 1.0, "file_timeout": 9.0},
                TypeError,
                r"settings= holds refresh_margin=, file_timeout=",
            ),
            ({"retry": 3}, TypeError, r"retry must be a RetryPolicy, got int"),
            ({"max_attempts": 0}, ValueError, r"max_attempts must be at least 1, got 0"),
            ({"max_attempts": 2.5}, TypeError, r"max_attempts must be an int, got float"),
            ({"max_attempts": True}, TypeError, r"max_attempts must be an int, got bool"),
            ({"backoff": -1.0}, ValueError, r"backoff must be >= 0, got -1\.0"),
            ({"backoff": float("nan")}, ValueError, r"backoff must be >= 0, got nan"),
        ],
        ids=[
            "retry-and-max_attempts",
            "retry-and-backoff",
            "settings-and-retry",
            "settings-and-max_attempts",
            "settings-and-timeouts",
            "settings-and-chunk_size",
            "settings-and-refresh_margin",
            "retry-not-a-policy",
            "no-attempt",
            "fractional-attempts",
            "bool-attempts",
            "negative-backoff",
            "nan-backoff",
        ],
    )
    async def test_bad_combinations_are_refused_before_anything_is_sent(
        self,
        client: Any,
        emulator: Any,
        dest: Path,
        options: dict[str, Any],
        error: type[Exception],
        message: str,
    ) -> None:
        """A clear error naming the options; no call sent, ``dest`` not created."""
        before = len(emulator.requests)

        with pytest.raises(error, match=message):
            await archive(client, dest, photo_requests=["pr_1"], **options)

        assert before == len(emulator.requests)
        assert not await anyio.Path(dest).exists()


class TestDeprecatedFetchSettings:
    def test_the_old_names_still_build_a_policy(self) -> None:
        """``FetchSettings(max_attempts=, backoff=, backoff_cap=)`` warns and fills ``retry``."""
        with pytest.warns(DeprecationWarning, match=r"FetchSettings\(max_attempts=, backoff=, "):
            settings = FetchSettings(max_attempts=3, backoff=0.01, backoff_cap=2.0)

        assert (
            attrs.evolve(DOWNLOAD_RETRY, max_retries=2, backoff_base=0.01, backoff_max=2.0)
            == settings.retry
        )

    def test_reading_the_old_names_warns(self) -> None:
        """The old attributes read through to ``retry``."""
        settings = FetchSettings(retry=RetryPolicy(max_retries=6, backoff_base=1.0))

        with pytest.warns(DeprecationWarning, match=r"read FetchSettings\.retry\.max_retries"):
            assert 7 == settings.max_attempts
        with pytest.warns(DeprecationWarning, match=r"read FetchSettings\.retry\.backoff_base"):
            assert 1.0 == settings.backoff
        with pytest.warns(DeprecationWarning, match=r"read FetchSettings\.retry\.backoff_max"):
            assert 8.0 == settings.backoff_cap

    def test_evolving_keeps_the_policy_without_warning_again(self) -> None:
        """``attrs.evolve`` of settings made the old way keeps their policy, silently."""
        with pytest.warns(DeprecationWarning, match=r"FetchSettings\(max_attempts=\)"):
            settings = FetchSettings(max_attempts=2)

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = attrs.evolve(settings, chunk_size=1024)

        assert 1 == again.retry.max_retries
        assert 1024 == again.chunk_size

    def test_old_and_new_names_together_are_refused(self) -> None:
        """``retry=`` with ``max_attempts=``: a TypeError, not a silent choice."""
        with pytest.raises(TypeError, match=r"pass retry=RetryPolicy\(\.\.\.\) or max_attempts="):
            FetchSettings(retry=RetryPolicy(), max_attempts=2)

    def test_only_a_policy_is_taken(self) -> None:
        """``FetchSettings(retry=...)`` takes a RetryPolicy and nothing else."""
        with pytest.raises(TypeError, match=r"^retry must be a RetryPolicy, got int$"):
            FetchSettings(retry=3)  # type: ignore[arg-type]

    def test_a_bad_old_value_is_refused(self) -> None:
        """``max_attempts=0`` was one attempt in silence; now it is an error."""
        with (
            pytest.warns(DeprecationWarning, match=r"FetchSettings\(max_attempts=\)"),
            pytest.raises(ValueError, match=r"max_attempts must be at least 1, got 0"),
        ):
            FetchSettings(max_attempts=0)
