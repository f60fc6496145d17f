"""``VISIONO_LOG``: the SDK's logging from the environment, in a child Python against the emulator."""

from __future__ import annotations

import os
import sys

import anyio
import pytest

from visiono_async.testing import VisionoEmulator

# The child: one call that succeeds, one whose first attempt gets a 503, one 404.
SCRIPT = """
import anyio
from visiono_async import NotFoundError, RetryPolicy, VisionoClient

async def main():
    async with VisionoClient(retry=RetryPolicy(max_retries=1, backoff_base=0.0)) as client:
        await client.status()
        await client.stats()
        try:
            await client.photo_requests.get("pr_missing")
        except NotFoundError:
            pass

anyio.run(main)
"""


async def run_child(emulator: VisionoEmulator, key: str, level: str | None) -> str:
    """Run SCRIPT with VISIONO_LOG=level against the emulator; its stderr."""
    env = {k: v for k, v in os.environ.items() if k != "VISIONO_LOG"}
    env.update(VISIONO_API_KEY=key, VISIONO_BASE_URL=emulator.base_url)
    if level is not None:
        env["VISIONO_LOG"] = level
    emulator.faults.fail_next(1, status=503, path="/stats")
    result = await anyio.run_process([sys.executable, "-c", SCRIPT], env=env, check=False)
    assert 0 == result.returncode, result.stderr.decode()
    assert b"" == result.stdout
    return result.stderr.decode()


class TestVisionoLog:
    async def test_debug_logs_every_call_with_its_request_id_and_never_the_key(
        self, emulator: VisionoEmulator
    ) -> None:
        """debug: each call's line names method, path, status and request id; no key."""
        key = emulator.create_api_key()
        stderr = await run_child(emulator, key, "debug")
        status_id = next(r.request_id for r in emulator.requests if r.path == "/status")
        assert "GET /status -> 200 (attempt 1" in stderr
        assert f"request_id={status_id})" in stderr
        assert "GET /stats -> 503" in stderr
        assert "retrying in" in stderr
        assert "GET /photo-requests/pr_missing -> 404" in stderr
        assert "DEBUG visiono_async]" in stderr
        assert key not in stderr
        assert key[len("vsk_test_") :] not in stderr

    async def test_info_logs_retries_but_not_each_call(self, emulator: VisionoEmulator) -> None:
        """info: the retry of the 503 is logged, the successful calls are not."""
        stderr = await run_child(emulator, emulator.create_api_key(), "INFO")
        assert "GET /stats -> 503 (attempt 1); retrying in" in stderr
        assert "GET /status -> 200" not in stderr
        assert "DEBUG" not in stderr

    async def test_unset_prints_nothing(self, emulator: VisionoEmulator) -> None:
        """Without the variable the SDK prints nothing at all (logging is the app's)."""
        assert "" == await run_child(emulator, emulator.create_api_key(), None)

    async def test_an_unknown_value_is_named_in_a_warning(self, emulator: VisionoEmulator) -> None:
        """VISIONO_LOG=verbose warns once, naming the value, and logs nothing."""
        stderr = await run_child(emulator, emulator.create_api_key(), "verbose")
        assert "VISIONO_LOG='verbose' is not understood (use debug or info)" in stderr
        assert "RuntimeWarning" in stderr
        assert "GET /stats" not in stderr


class TestRedaction:
    def test_a_key_in_a_message_is_masked_by_the_env_handler(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A caller's own message carrying a key reaches stderr masked."""
        import logging

        from visiono_async._logging import _EnvHandler, setup_logging_from_env

        logger = logging.getLogger("visiono_async")
        before_level, before_handlers = logger.level, list(logger.handlers)
        try:
            assert logging.DEBUG == setup_logging_from_env({"VISIONO_LOG": "debug"})
            setup_logging_from_env({"VISIONO_LOG": "debug"})  # a second run adds no handler
            added = [h for h in logger.handlers if isinstance(h, _EnvHandler)]
            assert 1 == len(added)
            added[0].setStream(sys.stderr)
            logger.debug("key is %s", "vsk_live_" + "a1b2c3" * 5)
            err = capsys.readouterr().err
            assert "key is vsk_<redacted>" in err
            assert "a1b2c3" not in err
        finally:
            logger.setLevel(before_level)
            logger.handlers[:] = before_handlers
