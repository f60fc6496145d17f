"""A destination the process may not write to, even as root (CI runs as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import seed

from tests.conftest import IN_CI
from visiono_async.download import ArchiveError, archive


@pytest.fixture
def immutable_dest(dest: Path) -> Iterator[Path]:
    """``dest`` made immutable with ``chattr +i``: no new entries, whoever asks (root too)."""
    chattr = shutil.which("chattr")
    dest.mkdir(parents=True)
    result = (
        subprocess.run([chattr, "+i", str(dest)], capture_output=True, text=True, check=False)
        if chattr
        else None
    )
    if result is None or result.returncode != 0:
        reason = "chattr +i is not available here" + (f": {result.stderr}" if result else "")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield dest
    finally:
        subprocess.run([str(chattr), "-i", str(dest)], check=True)


async def test_immutable_destination_is_a_clear_error(
    client: Any, emulator: Any, immutable_dest: Path
) -> None:
    """Nothing can be created in dest: the run stops with destination_not_writable, no storage call, nothing left behind."""
    seeded = await seed(client, emulator, 2)

    with pytest.raises(ArchiveError) as info:
        await archive(client, immutable_dest, photo_requests=[seeded.photo_request_id])

    assert "destination_not_writable" == info.value.reason
    assert str(immutable_dest) in str(info.value)
    assert 0 == emulator.count("GET", "/storage/")
    assert [] == os.listdir(immutable_dest)
