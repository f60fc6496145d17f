"""Helpers for the archive tests: photo requests with known photos, and disk inspection."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import pytest
import trustme

from visiono_async.testing import sample_jpeg


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client TLS context that trusts ``ca`` (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def serving(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from ``ca`` for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@attrs.frozen
class Seeded:
    """A photo request with submitted photos, by submission id."""

    photo_request_id: str
    photos: dict[str, bytes]

    def sha256(self, submission_id: str) -> str:
        return hashlib.sha256(self.photos[submission_id]).hexdigest()


async def seed(
    client: Any,
    emulator: Any,
    count: int = 4,
    *,
    sizes: Sequence[int] | None = None,
    gps: tuple[float, float] | None = (45.46, 9.19),
) -> Seeded:
    """Create a photo request with ``count`` items and submit a distinct photo to each."""
    pr = await client.photo_requests.create(
        instructions="Photos for the archive tests",
        items=[{"instructions": f"photo {i}", "is_required": False} for i in range(count)],
    )
    photos: dict[str, bytes] = {}
    for i, item in enumerate(pr.items):
        size = sizes[i] if sizes else 20_000 + 1_000 * i
        content = sample_jpeg(size, seed=i + 1)
        sub = await emulator.simulate_submission(pr.id, item.id, content=content, gps=gps)
        photos[sub["id"]] = content
    return Seeded(pr.id, photos)


def files_under(root: Path) -> dict[str, bytes]:
    """Every user file under ``root`` (the ``.visiono`` state folder excluded), by path."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (dirpath == str(root) and d == ".visiono")]
        for name in filenames:
            full = Path(dirpath, name)
            found[full.relative_to(root).as_posix()] = full.read_bytes()
    return found


def temp_files(root: Path) -> list[str]:
    """Whatever sits in the pipeline's temp folder."""
    tmp = root / ".visiono" / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def names(folder: Path) -> list[str]:
    """The sorted entry names of a folder."""
    return sorted(os.listdir(folder))


BOTH_LOOPS = [
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(
        ("asyncio", {"use_uvloop": True}),
        id="uvloop",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"
        ),
    ),
]
"""``anyio_backend`` params for tests that run on asyncio's loop and on uvloop (the CLI's)."""


class Disk:
    """A shared byte budget: writes past it fail with ENOSPC, like a full file system.

    ``Disk(free).open`` is a ``FetchSettings(opener=...)``.
    """

    def __init__(self, free: int) -> None:
        self.free = free

    def open(self, path: str) -> BinaryIO:
        return _BudgetedFile(open(path, "xb"), self)  # type: ignore[return-value]


class _BudgetedFile:
    def __init__(self, raw: BinaryIO, disk: Disk) -> None:
        self._raw = raw
        self._disk = disk

    def write(self, data: bytes) -> int:
        if len(data) > self._disk.free:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.free -= len(data)
        return self._raw.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
