"""Shared fixtures: the asyncio backend, the emulator, a key and a client bound to it."""

from __future__ import annotations

import inspect
import logging
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Hypothesis's own clocks (the 200 ms deadline per example, the "data generation is slow"
# health check) are wall-clock thresholds: on a shared, loaded machine one stalled draw
# fails a test whose code is correct. The properties are what these tests check, not speed.
settings.register_profile(
    "visiono", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("visiono")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Run every ``async def`` test on anyio's asyncio backend without a per-test marker.

    The marker must be on the function before anyio's own collection hook parametrizes it.
    """
    if inspect.iscoroutinefunction(obj) and name.startswith("test"):
        pytest.mark.anyio(obj)


_PROXY_VARIABLES = [
    f"{name}_{suffix}"
    for name in ("HTTP", "HTTPS", "ALL", "NO", "http", "https", "all", "no")
    for suffix in (("PROXY",) if name.isupper() else ("proxy",))
]


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach their loopback servers directly unless a test sets a proxy itself.

    The SDK follows ``HTTP(S)_PROXY`` like curl does, so a proxy in the environment of the
    machine running the tests would otherwise carry every emulator call.
    """
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class SendTimes:
    """When the pacer let each API call go: the times its windows are computed from.

    Each grant is read from what the pacer recorded (its loop clock) and paired with the
    call's ``visiono_async.send`` "sending attempt" line, which the session logs right
    after the grant, with no await in between. The line's own timestamp is not used: a GC
    pause or a preemption between the grant and the line delays it (4.7 ms once in CI,
    which made two calls paced 0.6 s apart read as 0.595 s), and the emulator's arrival
    times add loopback jitter on top. A pacing check must not depend on either.
    """

    def __init__(self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
        from visiono_async._ratelimit import Pacer

        self._caplog = caplog
        caplog.set_level(logging.DEBUG, logger="visiono_async.send")
        self._grants: list[float] = []
        grants = self._grants
        acquire, note_sent = Pacer.acquire, Pacer.note_sent

        async def recording_acquire(pacer: Pacer, *args: Any, **kwargs: Any) -> float:
            waited = await acquire(pacer, *args, **kwargs)
            grants.append(pacer._sent[-1])  # what this call appended: nothing ran between
            return waited

        def recording_note_sent(pacer: Pacer) -> None:  # a send the shared budget paced
            note_sent(pacer)
            grants.append(pacer._sent[-1])

        monkeypatch.setattr(Pacer, "acquire", recording_acquire)
        monkeypatch.setattr(Pacer, "note_sent", recording_note_sent)

    def __call__(self, method: str, path: str) -> list[float]:
        """Grant times (the loop's clock, seconds) of the attempts of ``method path``."""
        sent = [
            r.getMessage()
            for r in self._caplog.records
            if r.name == "visiono_async.send" and ": sending attempt " in r.getMessage()
        ]
        assert len(sent) == len(self._grants), "every attempt is paced once, in order"
        prefix = f"{method} {path}: sending attempt"
        return [t for line, t in zip(sent, self._grants, strict=True) if line.startswith(prefix)]


@pytest.fixture
def send_times(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> SendTimes:
    """The pacer's grant times of the client's API calls (see :class:`SendTimes`)."""
    return SendTimes(caplog, monkeypatch)


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp is asyncio-only."""
    return "asyncio"


def require_binary(name: str) -> str:
    """The path of an external server binary; skip locally when missing, fail in CI."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        message = f"{name} is not installed (.ci/run installs it with apt-get)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
async def emulator() -> AsyncIterator[object]:
    """A running Visiono emulator on 127.0.0.1 with rate limits high enough for tests."""
    from visiono_async.testing import VisionoEmulator

    async with VisionoEmulator(rate_limit_per_minute=10_000, rate_limit_per_hour=100_000) as emu:
        yield emu


@pytest.fixture
def api_key(emulator: object) -> str:
    """A key with every scope on the pro plan."""
    return emulator.create_api_key()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def client(emulator: object, api_key: str) -> AsyncIterator[object]:
    """A VisionoClient talking to the emulator, with client-side pacing off."""
    from visiono_async import VisionoClient

    async with VisionoClient(
        api_key=api_key,
        base_url=emulator.base_url,  # type: ignore[attr-defined]
        rate_limit=None,
    ) as c:
        yield c
