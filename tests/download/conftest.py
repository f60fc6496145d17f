"""Fixtures of the archive tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """An archive destination that does not exist yet."""
    return tmp_path / "archive"


@pytest.fixture
def ca() -> trustme.CA:
    """A throwaway certificate authority for the HTTPS tests."""
    return trustme.CA()
