"""Fixtures of the archive tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from transport_helpers import KINDS, MakeTransport, transports_of


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """An archive destination that does not exist yet."""
    return tmp_path / "archive"


@pytest.fixture
def ca() -> trustme.CA:
    """A throwaway certificate authority for the HTTPS tests."""
    return trustme.CA()


@pytest.fixture(params=KINDS)
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[MakeTransport]:
    """Makes transports of one kind, lean or aiohttp (closed at the end)."""
    async for make in transports_of(request.param):
        yield make
