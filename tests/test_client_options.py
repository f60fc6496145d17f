"""``client.with_options(...)`` and per-call ``max_retries=``, against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from visiono_async import (
    APITimeoutError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VisionoClient,
)
from visiono_async.testing import VisionoEmulator

# No backoff sleeps: retries are counted, not timed.
NO_BACKOFF = RetryPolicy(max_retries=0, backoff_base=0.0)


@pytest.fixture
async def strict(emulator: VisionoEmulator, api_key: str) -> AsyncIterator[VisionoClient]:
    """A client that never retries and waits no backoff, with pacing off."""
    async with VisionoClient(
        api_key=api_key, base_url=emulator.base_url, retry=NO_BACKOFF, rate_limit=None
    ) as client:
        yield client


class TestWithOptions:
    async def test_derived_client_shares_the_pool_and_keeps_the_rest(
        self, strict: VisionoClient
    ) -> None:
        """The derived client uses the same aiohttp session; options not given are kept."""
        derived = strict.with_options(timeout=5.0)
        assert strict.http is derived.http
        assert 5.0 == derived.config.timeout
        assert 30.0 == strict.config.timeout
        assert strict.config.retry == derived.config.retry
        assert strict.base_url == derived.base_url
        assert strict.storage_transport is derived.storage_transport

    async def test_max_retries_of_the_derived_client_apply_to_it_alone(
        self, emulator: VisionoEmulator, strict: VisionoClient
    ) -> None:
        """The derived client retries twice through two 503s; the original still does not."""
        pr = await strict.photo_requests.create(instructions="x")
        patient = strict.with_options(max_retries=2)
        emulator.faults.fail_next(2, status=503, path=f"/photo-requests/{pr.id}")
        assert pr.id == (await patient.photo_requests.get(pr.id)).id
        assert 3 == emulator.count("GET", f"/photo-requests/{pr.id}")
        emulator.faults.fail_next(1, status=503, path=f"/photo-requests/{pr.id}")
        with pytest.raises(ServerError):
            await strict.photo_requests.get(pr.id)
        assert 4 == emulator.count("GET", f"/photo-requests/{pr.id}")

    async def test_timeout_of_the_derived_client_is_used(
        self, emulator: VisionoEmulator, strict: VisionoClient
    ) -> None:
        """A slow answer times out on the derived client's short timeout, not the parent's."""
        emulator.faults.delay(2.0, count=1, path="/status")
        with pytest.raises(APITimeoutError):
            await strict.with_options(timeout=0.2).status()
        await strict.status()  # the parent's 30 s timeout is unchanged
        assert 2 == emulator.count("GET", "/status")

    async def test_closing_the_derived_client_leaves_the_pool_open(
        self, strict: VisionoClient
    ) -> None:
        """``async with`` on the derived client closes it, not the pool it borrowed."""
        async with strict.with_options(max_retries=1) as derived:
            await derived.status()
        assert derived.closed
        assert not strict.closed
        assert not strict.http.closed
        await strict.status()
        with pytest.raises(RuntimeError, match="closed"):
            await derived.status()

    async def test_closing_the_parent_closes_the_derived_clients_too(
        self, emulator: VisionoEmulator, api_key: str
    ) -> None:
        """The pool belongs to the client that made it; its derived clients say so."""
        parent = VisionoClient(api_key=api_key, base_url=emulator.base_url, rate_limit=None)
        derived = parent.with_options(timeout=10)
        await derived.status()
        await parent.aclose()
        assert derived.closed
        with pytest.raises(RuntimeError, match="with_options"):
            await derived.status()

    async def test_unchanged_rate_limit_shares_one_pacer(
        self, emulator: VisionoEmulator, api_key: str
    ) -> None:
        """Two clients on one key draw on one budget: the third call in the minute is refused."""
        async with VisionoClient(
            api_key=api_key,
            base_url=emulator.base_url,
            rate_limit=RateLimit(per_minute=2, per_hour=None),
            max_retry_wait=0.0,
        ) as client:
            derived = client.with_options(timeout=10)
            await client.status()
            await derived.status()
            with pytest.raises(RateLimitError) as caught:
                await derived.status()
            assert "client_rate_limited" == caught.value.code
            with pytest.raises(RateLimitError):
                await client.status()
        assert 2 == emulator.count("GET", "/status")

    async def test_another_rate_limit_gets_a_pacer_of_its_own(
        self, emulator: VisionoEmulator, api_key: str
    ) -> None:
        """``rate_limit=`` given: the derived client paces alone (``None``: not at all)."""
        async with VisionoClient(
            api_key=api_key,
            base_url=emulator.base_url,
            rate_limit=RateLimit(per_minute=1, per_hour=None),
            max_retry_wait=0.0,
        ) as client:
            await client.status()
            unpaced = client.with_options(rate_limit=None)
            roomy = client.with_options(rate_limit=RateLimit(per_minute=5, per_hour=None))
            for _ in range(3):
                await unpaced.status()
                await roomy.status()
            with pytest.raises(RateLimitError):
                await client.status()
        assert 7 == emulator.count("GET", "/status")

    async def test_rate_limit_values_seen_are_shared(self, strict: VisionoClient) -> None:
        """What the server last said about the key is the same on both clients."""
        derived = strict.with_options(max_retries=1)
        await derived.status()
        assert derived.rate_limit.limit is not None
        assert derived.rate_limit == strict.rate_limit

    async def test_bad_options_are_refused(self, strict: VisionoClient) -> None:
        """A non-positive timeout or a negative retry count is a ValueError up front."""
        with pytest.raises(ValueError, match="timeout"):
            strict.with_options(timeout=0)
        with pytest.raises(ValueError, match="connect_timeout"):
            strict.with_options(connect_timeout=-1)
        with pytest.raises(ValueError, match="max_retries"):
            strict.with_options(max_retries=-1)

    async def test_a_closed_client_cannot_be_derived_from(
        self, emulator: VisionoEmulator, api_key: str
    ) -> None:
        """Deriving from a closed client fails at once, not at the first call."""
        client = VisionoClient(api_key=api_key, base_url=emulator.base_url)
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            client.with_options(timeout=1)

    async def test_archive_through_a_derived_client_counts_its_calls(
        self, emulator: VisionoEmulator, strict: VisionoClient, tmp_path: object
    ) -> None:
        """A derived client archives over the shared pool and reports its own API calls."""
        pr = await strict.photo_requests.create(instructions="x")
        await emulator.simulate_submission(pr.id, size=2_000)
        report = await strict.with_options(max_retries=1).archive(
            str(tmp_path), photo_requests=[pr.id]
        )
        assert (1, 0) == (report.downloaded, len(report.failed))
        assert 1 == report.api_calls


class TestPerCallMaxRetries:
    async def test_a_call_retries_as_often_as_it_is_told(
        self, emulator: VisionoEmulator, strict: VisionoClient
    ) -> None:
        """``max_retries=2`` on one call rides over two 503s on a client that never retries."""
        pr = await strict.photo_requests.create(instructions="x")
        emulator.faults.fail_next(2, status=503, path=f"/photo-requests/{pr.id}")
        assert pr.id == (await strict.photo_requests.get(pr.id, max_retries=2)).id
        assert 3 == emulator.count("GET", f"/photo-requests/{pr.id}")
        assert 0 == strict.config.retry.max_retries

    async def test_zero_turns_retries_off_for_one_call(
        self, emulator: VisionoEmulator, api_key: str
    ) -> None:
        """A client that retries twice sends one attempt when a call says ``max_retries=0``."""
        async with VisionoClient(
            api_key=api_key,
            base_url=emulator.base_url,
            retry=RetryPolicy(max_retries=2, backoff_base=0.0),
            rate_limit=None,
        ) as client:
            emulator.faults.fail_next(1, status=503, path="/stats")
            with pytest.raises(ServerError):
                await client.stats(max_retries=0)
            assert 1 == emulator.count("GET", "/stats")
            emulator.faults.fail_next(1, status=503, path="/stats")
            await client.stats()
            assert 3 == emulator.count("GET", "/stats")

    async def test_every_page_of_a_listing_gets_the_retries(
        self, emulator: VisionoEmulator, strict: VisionoClient
    ) -> None:
        """``list(max_retries=1)`` retries each page's call."""
        for n in range(3):
            await strict.smart_links.create(instructions="x", name=f"link {n}")
        emulator.faults.fail_next(1, status=502, path="/smart-links")
        names = [sl.name async for sl in strict.smart_links.list(per_page=2, max_retries=1)]
        assert ["link 0", "link 1", "link 2"] == sorted(n for n in names if n)

    async def test_a_call_counts_in_the_clients_api_calls(
        self, emulator: VisionoEmulator, strict: VisionoClient
    ) -> None:
        """Attempts of a call with its own ``max_retries`` are the client's calls too."""
        before = strict.session.api_calls
        emulator.faults.fail_next(1, status=503, path="/status")
        await strict.status(max_retries=1)
        assert 2 == strict.session.api_calls - before

    async def test_a_negative_count_is_refused(self, strict: VisionoClient) -> None:
        """``max_retries=-1`` is a ValueError before anything is sent."""
        with pytest.raises(ValueError, match="max_retries"):
            await strict.webhooks.events(max_retries=-1)
