"""Fixtures for the emulator's own tests: a plain aiohttp session and a tiny API caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def emu(emulator: VisionoEmulator) -> VisionoEmulator:
    """The shared emulator fixture, typed."""
    return emulator


@pytest.fixture
def api(http: aiohttp.ClientSession, emu: VisionoEmulator) -> Api:
    """An API caller with an all-scopes pro key."""
    return Api(http, emu, emu.create_api_key())
