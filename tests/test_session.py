"""The session core against the emulator: error mapping, retry rules and rate-limit pacing."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from tests.conftest import SendTimes
from visiono_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ValidationError,
    VisionoClient,
    WaitNotice,
)
from visiono_async.testing import VisionoEmulator

FAST_RETRY = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05)


def make_client(emu: Any, key: str, **kwargs: Any) -> VisionoClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("rate_limit", None)
    return VisionoClient(api_key=key, base_url=emu.base_url, **kwargs)


@pytest.fixture
async def fast(emulator: Any, api_key: str) -> AsyncIterator[VisionoClient]:
    """A client with quick retries and no client-side pacing."""
    async with make_client(emulator, api_key) as c:
        yield c


def api_calls(emu: Any, method: str, path: str) -> list[Any]:
    return [r for r in emu.requests if r.method == method and r.path == path]


class TestErrorMapping:
    async def test_unknown_key_is_authentication_error(self, emulator: Any) -> None:
        """401 maps to AuthenticationError with the API's code and request id."""
        async with make_client(emulator, "vsk_test_not_a_key") as c:
            with pytest.raises(AuthenticationError) as info:
                await c.status()
        err = info.value
        assert 401 == err.status_code
        assert "unauthenticated" == err.code
        assert err.request_id and err.request_id.startswith("req_")
        assert "vsk_test_not_a_key" not in str(err)

    async def test_missing_scope_names_the_scope(self, emulator: Any) -> None:
        """403 maps to PermissionDeniedError whose required_scope is the one the body names."""
        key = emulator.create_api_key(scopes=["photo_requests:read"])
        async with make_client(emulator, key) as c:
            with pytest.raises(PermissionDeniedError) as info:
                await c.webhooks.create(
                    url="https://example.com/hook", events=["photo_request.created"]
                )
        assert 403 == info.value.status_code
        assert "webhooks:write" == info.value.required_scope
        assert "webhooks:write" in str(info.value)

    async def test_not_found(self, fast: VisionoClient) -> None:
        """404 maps to NotFoundError carrying the method and path."""
        with pytest.raises(NotFoundError) as info:
            await fast.photo_requests.get("pr_doesnotexist")
        assert 404 == info.value.status_code
        assert "/photo-requests/pr_doesnotexist" == info.value.path

    async def test_validation_error_exposes_field_errors(self, fast: VisionoClient) -> None:
        """422 in the standard shape maps to ValidationError with per-field messages."""
        with pytest.raises(ValidationError) as info:
            await fast.photo_requests.create(instructions="")
        assert "validation_error" == info.value.code
        assert "instructions" in info.value.errors

    async def test_free_plan_422_framework_shape(self, emulator: Any) -> None:
        """The free plan's {message, errors} 422 parses into ValidationError.errors."""
        key = emulator.create_api_key(plan="free")
        async with make_client(emulator, key) as c:
            with pytest.raises(ValidationError) as info:
                await c.photo_requests.create(instructions="x", recipient_email="a@example.com")
        assert "The recipient email field is prohibited." == info.value.message
        assert ["Email features" in m for m in info.value.errors["recipient_email"]] == [True]
        assert [] == emulator.sent_emails

    async def test_bad_request(self, emulator: Any, fast: VisionoClient) -> None:
        """400 maps to BadRequestError."""
        emulator.faults.fail_next(1, status=400, path="/status")
        with pytest.raises(BadRequestError) as info:
            await fast.status()
        assert 400 == info.value.status_code

    async def test_server_error_after_retries(self, emulator: Any, fast: VisionoClient) -> None:
        """5xx maps to ServerError once the retries are spent."""
        emulator.faults.fail_next(10, status=500, path="/status")
        with pytest.raises(ServerError) as info:
            await fast.status()
        assert 500 == info.value.status_code
        assert 3 == len(api_calls(emulator, "GET", "/status"))

    async def test_rate_limited(self, emulator: Any, api_key: str) -> None:
        """429 maps to RateLimitError with retry_after from Retry-After."""
        emulator.faults.fail_next(1, status=429, path="/status", headers={"Retry-After": "7"})
        async with make_client(emulator, api_key, retry=RetryPolicy(max_retries=0)) as c:
            with pytest.raises(RateLimitError) as info:
                await c.status()
        assert 7.0 == info.value.retry_after

    async def test_html_error_page_is_a_clear_api_error(
        self, emulator: Any, fast: VisionoClient
    ) -> None:
        """A proxy's HTML 502 page becomes a ServerError describing the body, not a JSON traceback."""
        page = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
        emulator.faults.fail_next(
            3, status=502, path="/status", body=page, content_type="text/html"
        )
        with pytest.raises(ServerError) as info:
            await fast.status()
        assert "text/html" in info.value.message
        assert "502 Bad Gateway" in info.value.message
        assert info.value.__cause__ is None

    async def test_malformed_json_success_body(self, emulator: Any, fast: VisionoClient) -> None:
        """A 200 whose body is not JSON raises APIError(code='invalid_response')."""
        emulator.faults.fail_next(
            1,
            status=200,
            path="/status",
            body='{"data": {"status": "ok"',
            content_type="application/json",
        )
        with pytest.raises(APIError) as info:
            await fast.status()
        assert "invalid_response" == info.value.code
        assert 200 == info.value.status_code

    async def test_connection_refused(self) -> None:
        """Nothing listening gives APIConnectionError after the retries."""
        with _refusing_socket() as refusing:
            port = refusing.getsockname()[1]
            async with VisionoClient(
                api_key="k",
                base_url=f"http://127.0.0.1:{port}/api/v1",
                retry=FAST_RETRY,
                rate_limit=None,
            ) as c:
                with pytest.raises(APIConnectionError) as info:
                    await c.status()
        assert not isinstance(info.value, APITimeoutError)
        assert "could not connect" in str(info.value)

    async def test_timeout(self, emulator: Any, api_key: str) -> None:
        """A call slower than its timeout raises APITimeoutError; timeout= overrides per call."""
        emulator.faults.delay(2.0, path="/status")
        async with make_client(emulator, api_key, retry=RetryPolicy(max_retries=0)) as c:
            with pytest.raises(APITimeoutError):
                await c.status(timeout=0.2)


class TestRetryRules:
    async def test_get_is_retried_on_5xx_then_succeeds(
        self, emulator: Any, fast: VisionoClient
    ) -> None:
        """Two 503s then a success: the caller sees the success, the server saw three calls."""
        emulator.faults.fail_next(2, status=503, path="/status")
        assert "operational" == (await fast.status()).status
        assert 3 == len(api_calls(emulator, "GET", "/status"))

    @pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
    async def test_get_retry_statuses(
        self, emulator: Any, fast: VisionoClient, status: int
    ) -> None:
        """Each retryable status is retried for a GET."""
        emulator.faults.fail_next(1, status=status, path="/status", headers={"Retry-After": "0"})
        await fast.status()
        assert 2 == len(api_calls(emulator, "GET", "/status"))

    async def test_get_is_not_retried_on_4xx(self, emulator: Any, fast: VisionoClient) -> None:
        """A 404 is final: one call."""
        with pytest.raises(NotFoundError):
            await fast.photo_requests.get("pr_missing")
        assert 1 == len(api_calls(emulator, "GET", "/photo-requests/pr_missing"))

    async def test_get_is_retried_after_a_dropped_connection(self, emulator: Any) -> None:
        """Connections closed without a response are retried for a GET until one answers.

        (aiohttp >= 3.14 also resends an idempotent request once by itself; either way every
        reset is consumed and the fourth request succeeds.)
        """
        emulator.faults.reset(3, path="/status")
        async with make_client(
            emulator, emulator.create_api_key(), retry=RetryPolicy(max_retries=5, backoff_base=0.01)
        ) as c:
            assert "operational" == (await c.status()).status
        assert 4 == len(api_calls(emulator, "GET", "/status"))

    async def test_post_is_not_retried_on_5xx(self, emulator: Any, fast: VisionoClient) -> None:
        """The server may have acted on a plain POST that got a 500, so it is not sent again
        (creates look for what they made first: ``TestSafeCreates``)."""
        emulator.faults.fail_next(
            1, status=500, path="/photo-requests", method="POST", after_action=True
        )
        body = {"instructions": "x", "recipient_email": "a@example.com", "send_email": True}
        with pytest.raises(ServerError):
            await fast.session.request("POST", "/photo-requests", json=body)
        assert 1 == len(api_calls(emulator, "POST", "/photo-requests"))
        assert 1 == len(emulator.sent_emails)

    async def test_post_is_not_retried_after_a_dropped_connection(
        self, emulator: Any, fast: VisionoClient
    ) -> None:
        """A plain POST whose connection dropped after sending is not resent."""
        emulator.faults.reset(1, path="/photo-requests", method="POST")
        with pytest.raises(APIConnectionError):
            await fast.session.request("POST", "/photo-requests", json={"instructions": "x"})
        assert 1 == len(api_calls(emulator, "POST", "/photo-requests"))

    async def test_post_is_retried_on_429(self, emulator: Any, fast: VisionoClient) -> None:
        """A 429 means the server refused before acting: the POST is resent, one request exists."""
        emulator.faults.fail_next(
            1, status=429, path="/photo-requests", method="POST", headers={"Retry-After": "0"}
        )
        await fast.photo_requests.create(
            instructions="x", recipient_email="a@example.com", send_email=True
        )
        assert 2 == len(api_calls(emulator, "POST", "/photo-requests"))
        assert 1 == len(emulator.sent_emails)

    async def test_post_with_idempotency_key_is_retried_safely(
        self, emulator: Any, fast: VisionoClient
    ) -> None:
        """With an idempotency key a plain POST that got a 500 after acting is resent and
        replayed by the API: one email."""
        emulator.faults.fail_next(
            1, status=500, path="/photo-requests", method="POST", after_action=True
        )
        body = {"instructions": "x", "recipient_email": "a@example.com", "send_email": True}
        response = await fast.session.request(
            "POST", "/photo-requests", json=body, idempotency_key="ticket-1"
        )
        assert 2 == len(api_calls(emulator, "POST", "/photo-requests"))
        assert [response.data["id"]] == [e["photo_request_id"] for e in emulator.sent_emails]

    async def test_post_is_retried_when_the_connection_failed_before_sending(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A refused connection never reached a server, so even a POST is resent: one request is created."""
        refusing = _refusing_socket()
        port = refusing.getsockname()[1]
        emu = VisionoEmulator(port=port, rate_limit_per_minute=1000)
        key = emu.create_api_key()
        retry = RetryPolicy(max_retries=50, backoff_base=0.05, backoff_max=0.1)
        caplog.set_level(logging.INFO, logger="visiono_async")
        created: list[Any] = []
        async with VisionoClient(
            api_key=key, base_url=f"http://127.0.0.1:{port}/api/v1", retry=retry, rate_limit=None
        ) as c:

            async def create() -> None:
                created.append(await c.photo_requests.create(instructions="x"))

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(create)
                    await anyio.sleep(0.3)  # nothing listens yet: attempts are refused
                    refusing.close()  # the emulator binds the port at once
                    await emu.start()
                assert 1 == len(created)
                assert 1 == emu.count("POST", "/photo-requests")
                assert any("ClientConnectorError" in r.getMessage() for r in caplog.records)
            finally:
                refusing.close()
                await emu.aclose()

    async def test_retry_after_is_honoured(self, emulator: Any, fast: VisionoClient) -> None:
        """The retry waits the server's Retry-After, not the (much shorter) backoff."""
        emulator.faults.fail_next(1, status=503, path="/status", headers={"Retry-After": "1"})
        await fast.status()
        first, second = api_calls(emulator, "GET", "/status")
        assert second.time - first.time >= 0.9

    async def test_wait_longer_than_the_cap_raises(self, emulator: Any, api_key: str) -> None:
        """A Retry-After beyond max_retry_wait raises RateLimitError at once, with retry_after."""
        emulator.faults.fail_next(1, status=429, path="/status", headers={"Retry-After": "120"})
        async with make_client(
            emulator, api_key, retry=RetryPolicy(max_retries=3, max_wait=5)
        ) as c:
            with pytest.raises(RateLimitError) as info:
                await c.status()
        assert 120.0 == info.value.retry_after
        assert 1 == len(api_calls(emulator, "GET", "/status"))

    async def test_rate_limit_reset_header_is_honoured(
        self, emulator: Any, fast: VisionoClient
    ) -> None:
        """Without Retry-After, a 429 with Remaining 0 waits until X-RateLimit-Reset."""
        reset = int(emulator.now()) + 2
        emulator.faults.fail_next(
            1, status=429, path="/status",
            body={"error": {"code": "rate_limited", "message": "Too Many Requests"}},
            headers={"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        )  # fmt: skip
        await fast.status()
        first, second = api_calls(emulator, "GET", "/status")
        assert second.time >= reset - 0.05
        assert second.time - first.time >= 0.9


class TestRateLimitPacing:
    async def test_rate_limit_headers_are_kept(self, fast: VisionoClient) -> None:
        """client.rate_limit holds the last X-RateLimit-* values."""
        await fast.status()
        first = fast.rate_limit
        await fast.status()
        second = fast.rate_limit
        assert first.limit == second.limit == 10_000
        assert first.remaining is not None and second.remaining == first.remaining - 1
        assert second.reset is not None and second.reset.tzinfo is not None

    async def test_concurrent_calls_never_hit_429(self) -> None:
        """25 concurrent calls against a 10/min limit: 10 go through, 15 are held back client-side, the server sees no 429."""
        async with VisionoEmulator(rate_limit_per_minute=10, rate_limit_per_hour=1000) as emu:
            key = emu.create_api_key()
            outcomes: list[str] = []
            held: list[RateLimitError] = []
            async with make_client(
                emu,
                key,
                rate_limit=RateLimit(per_minute=10, per_hour=1000),
                # The tenth answer says Remaining 0: the rest would wait for the reset.
                retry=RetryPolicy(max_wait=0.5, max_reset_wait=0.5),
            ) as c:

                async def call() -> None:
                    try:
                        await c.status()
                        outcomes.append("ok")
                    except RateLimitError as exc:
                        held.append(exc)
                        outcomes.append("held")

                async with anyio.create_task_group() as tg:
                    for _ in range(25):
                        tg.start_soon(call)
            assert 10 == outcomes.count("ok")
            assert 15 == outcomes.count("held")
            assert {"client_rate_limited"} == {e.code for e in held}
            assert all(e.retry_after is not None and e.retry_after > 0.5 for e in held)
            assert 10 == emu.count("GET", "/status")
            assert 0 == sum(1 for r in emu.requests if r.status == 429)

    async def test_pacing_spaces_calls_within_each_window(
        self, emulator: Any, api_key: str, send_times: SendTimes
    ) -> None:
        """With 3 calls per 0.5 s, nine concurrent calls all succeed and no 0.5 s holds four
        (as sent: the pacer's times, not the emulator's arrival times)."""
        limit = RateLimit(per_minute=None, per_hour=None, windows=((3, 0.5),))
        async with (
            make_client(emulator, api_key, rate_limit=limit) as c,
            anyio.create_task_group() as tg,
        ):
            for _ in range(9):
                tg.start_soon(c.status)
        assert 9 == len(api_calls(emulator, "GET", "/status"))
        times = send_times("GET", "/status")
        assert 9 == len(times)
        # The pacer's own clock: exact, but for float rounding.
        assert all(times[i + 3] - times[i] >= 0.5 - 1e-6 for i in range(len(times) - 3)), times

    async def test_server_reported_exhaustion_holds_calls(self) -> None:
        """When the server says Remaining 0 (another process used the key), the client waits for the reset instead of sending."""
        async with VisionoEmulator(rate_limit_per_minute=3, rate_limit_per_hour=1000) as emu:
            key = emu.create_api_key()
            async with make_client(
                emu,
                key,
                rate_limit=RateLimit(per_minute=1000),
                retry=RetryPolicy(max_wait=0.5, max_reset_wait=0.5),
            ) as c:
                for _ in range(3):
                    await c.status()
                assert 0 == c.rate_limit.remaining
                with pytest.raises(RateLimitError) as info:
                    await c.status()
            assert "client_rate_limited" == info.value.code
            assert info.value.retry_after is not None and info.value.retry_after > 50
            assert f"would take {info.value.retry_after:.1f}s" in str(info.value)
            assert "max_reset_wait=0.5s" in str(info.value)
            assert 3 == emu.count("GET", "/status")

    async def test_a_server_reset_within_max_reset_wait_is_waited_out(self) -> None:
        """Calls queued behind a 429 wait for the server's reset, longer than max_wait, and all succeed."""
        async with VisionoEmulator(
            rate_limit_per_minute=3, rate_limit_per_hour=1000, rate_limit_window_scale=0.01
        ) as emu:
            key = emu.create_api_key()
            notices: list[WaitNotice] = []
            async with make_client(
                emu,
                key,
                rate_limit=RateLimit(per_minute=1000),
                retry=RetryPolicy(max_wait=0.05, max_reset_wait=5),
            ) as c:
                c.add_wait_listener(notices.append)
                async with anyio.create_task_group() as tg:
                    for _ in range(9):
                        tg.start_soon(c.status)
            statuses = [r.status for r in api_calls(emu, "GET", "/status")]
            assert 9 == statuses.count(200)
            assert any(n.reason == "server_reset" and n.seconds > 0.05 for n in notices)


def _refusing_socket() -> socket.socket:
    """A socket bound to a free port that never listens: connecting to it is refused.

    The port stays ours (other test workers run servers on free ports too) until it closes.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


class TestWaitListeners:
    """`client.add_wait_listener`: every wait before a call is announced, with its reason."""

    async def test_pacing_wait_is_announced_before_it_starts(
        self, emulator: Any, api_key: str
    ) -> None:
        """The third call in a 2-per-0.3 s window waits; the listener hears of it first."""
        limit = RateLimit(per_minute=None, per_hour=None, windows=((2, 0.3),))
        notices: list[WaitNotice] = []
        sent_before_notice: list[int] = []
        async with make_client(emulator, api_key, rate_limit=limit) as c:

            def listen(notice: WaitNotice) -> None:
                notices.append(notice)
                sent_before_notice.append(len(api_calls(emulator, "GET", "/status")))

            c.add_wait_listener(listen)
            for _ in range(3):
                await c.status()
        assert ["rate_limit"] == [n.reason for n in notices]
        notice = notices[0]
        assert ("GET", "/status") == (notice.method, notice.path)
        assert 0 < notice.seconds <= 0.3
        assert notice.until.tzinfo is not None
        assert [2] == sent_before_notice

    async def test_server_reset_and_backoff_are_told_apart(
        self, emulator: Any, api_key: str
    ) -> None:
        """A 429 with Retry-After is a server_reset wait; a 503 is a retry_backoff wait."""
        emulator.faults.fail_next(1, status=429, path="/status", headers={"Retry-After": "0.05"})
        notices: list[WaitNotice] = []
        async with make_client(emulator, api_key) as c:
            c.add_wait_listener(notices.append)
            await c.status()
            emulator.faults.fail_next(1, status=503, path="/status")
            await c.status()
        assert ["server_reset", "retry_backoff"] == [n.reason for n in notices]
        assert 0.05 == notices[0].seconds

    async def test_removed_and_failing_listeners_never_affect_calls(
        self, emulator: Any, api_key: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A listener that raises is logged and the call still succeeds; a removed one hears nothing."""
        heard: list[WaitNotice] = []

        def broken(notice: WaitNotice) -> None:
            raise RuntimeError("display went away")

        async with make_client(emulator, api_key) as c:
            remove = c.add_wait_listener(heard.append)
            c.add_wait_listener(broken)
            remove()
            remove()  # twice is harmless
            emulator.faults.fail_next(1, status=503, path="/status")
            with caplog.at_level(logging.ERROR, logger="visiono_async"):
                await c.status()
        assert [] == heard
        assert 2 == len(api_calls(emulator, "GET", "/status"))
        assert any("wait listener" in r.getMessage() for r in caplog.records)
