"""RetryPolicy: the one backoff and the one list of retryable statuses, for every caller."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from visiono_async import RetryPolicy, ServerError, VisionoClient, WaitNotice


class TestBackoff:
    @pytest.mark.parametrize("attempt", range(7))
    def test_full_jitter_under_a_doubling_ceiling(self, attempt: int) -> None:
        """Waits spread over the whole of [0, ceiling]; the ceiling doubles up to the cap."""
        policy = RetryPolicy(backoff_base=0.25, backoff_max=8.0)
        ceiling = min(8.0, 0.25 * 2**attempt)

        waits = [policy.backoff(attempt) for _ in range(400)]

        assert all(0.0 <= wait <= ceiling for wait in waits)
        # Full jitter, not "half to full": some waits fall in the lower half too.
        assert min(waits) < ceiling / 2 < max(waits)

    def test_a_huge_attempt_count_stays_at_the_cap(self) -> None:
        """Any number of retries: the ceiling is backoff_max, never an overflow."""
        policy = RetryPolicy(max_retries=100_000, backoff_base=0.5, backoff_max=3.0)

        waits = [policy.backoff(attempt) for attempt in (1_024, 10_000, 99_999)]

        assert all(0.0 <= wait <= 3.0 for wait in waits)

    def test_no_base_means_no_wait(self) -> None:
        """backoff_base=0: retries follow each other at once."""
        assert 0.0 == RetryPolicy(backoff_base=0.0).backoff(3)

    @pytest.mark.parametrize(
        ("retry_after", "expected"),
        [(0.0, 0.0), (2.5, 2.5), (120.0, 120.0), (-3.0, 0.0)],
        ids=["zero", "short", "past-backoff_max", "negative"],
    )
    def test_the_servers_wait_is_returned_as_it_is(
        self, retry_after: float, expected: float
    ) -> None:
        """A server's wait replaces the jitter, uncapped: the caller decides on its length."""
        policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0)

        assert expected == policy.backoff(0, retry_after)

    def test_a_negative_attempt_is_refused(self) -> None:
        """Attempts count from 0."""
        with pytest.raises(ValueError, match=r"^attempt must be >= 0, got -1$"):
            RetryPolicy().backoff(-1)


class TestRetryStatuses:
    def test_any_collection_becomes_a_frozenset(self) -> None:
        """A set or list is accepted and kept frozen, so the policy stays hashable."""
        policy = RetryPolicy(retry_statuses=[503, 429, 503])

        assert frozenset({429, 503}) == policy.retry_statuses
        assert hash(policy) == hash(RetryPolicy(retry_statuses={429, 503}))

    @pytest.mark.parametrize(
        ("statuses", "error", "message"),
        [
            (503, TypeError, "retry_statuses must be a collection of statuses such as"),
            ("503", TypeError, "retry_statuses must be a collection of statuses such as"),
            (["503"], TypeError, "retry_statuses must hold int statuses, got str '503'"),
            ([True], TypeError, "retry_statuses must hold int statuses, got bool True"),
            ([200], ValueError, r"retry_statuses must be HTTP error statuses \(400-599\), got 200"),
            ([600], ValueError, r"retry_statuses must be HTTP error statuses \(400-599\), got 600"),
        ],
        ids=["an-int", "a-str", "str-items", "bool-items", "a-success", "past-599"],
    )
    def test_bad_statuses_are_refused(
        self, statuses: Any, error: type[Exception], message: str
    ) -> None:
        """Only HTTP error statuses, as ints, can be retryable."""
        with pytest.raises(error, match=message):
            RetryPolicy(retry_statuses=statuses)

    @pytest.mark.parametrize(
        ("statuses", "status", "expected"),
        [
            ({503}, 503, True),
            ({503}, 502, False),
            ({500}, 599, True),
            ({408, 429}, 500, False),
        ],
        ids=["listed", "not-listed", "500-means-every-5xx", "no-5xx"],
    )
    def test_which_statuses_are_retryable(
        self, statuses: set[int], status: int, expected: bool
    ) -> None:
        """A listed status is retryable; 500 in the list stands for every 5xx."""
        policy = RetryPolicy(retry_statuses=statuses)

        assert expected == policy.is_retryable_status("GET", status, idempotent=False)


class NotedBackoff(RetryPolicy):
    """A policy whose backoff is short and noted, to see which callers ask it."""

    __slots__ = ()
    noted: list[tuple[int, float | None]] = []  # noqa: RUF012 - one list per test (see below)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        type(self).noted.append((attempt, retry_after))
        return 0.02


@pytest.fixture
def noted() -> type[NotedBackoff]:
    """A fresh NotedBackoff class: its notes belong to this test."""
    return type("Noted", (NotedBackoff,), {"__slots__": (), "noted": []})


class TestAPICallsAskThePolicy:
    async def test_the_backoff_of_an_api_call_is_the_policys(
        self, emulator: Any, api_key: str, noted: type[NotedBackoff]
    ) -> None:
        """A 503 then a 503 with an HTTP-date Retry-After: both waits come from backoff()."""
        retry_at = email.utils.formatdate(time.time() + 3, usegmt=True)
        emulator.faults.fail_next(1, status=503, path="/stats")
        emulator.faults.fail_next(1, status=503, path="/stats", headers={"Retry-After": retry_at})
        notices: list[WaitNotice] = []
        async with VisionoClient(
            api_key=api_key, base_url=emulator.base_url, rate_limit=None, retry=noted()
        ) as client:
            client.add_wait_listener(notices.append)
            await client.stats()

        (first, second) = noted.noted
        assert (0, None) == first
        assert 1 == second[0]
        assert second[1] is not None and 1.0 <= second[1] <= 3.0  # the date, parsed
        assert [0.02, 0.02] == [n.seconds for n in notices]

    async def test_retry_statuses_decide_for_api_calls(self, emulator: Any, api_key: str) -> None:
        """A 502 outside the policy's statuses is raised at once, with no retry."""
        emulator.faults.fail_next(1, status=502, path="/stats")
        policy = RetryPolicy(max_retries=3, backoff_base=0.0, retry_statuses={503})
        async with VisionoClient(
            api_key=api_key, base_url=emulator.base_url, rate_limit=None, retry=policy
        ) as client:
            with pytest.raises(ServerError) as caught:
                await client.stats()

        assert 502 == caught.value.status_code
        assert 1 == emulator.count("GET", "/stats")
