"""Helpers for the tests that run both storage transports: make one, archive, check the disk.

The transport contract (``test_transport_contract``) and the real-server tests
(``test_real_servers``) share these, so both hold the transports to the same checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
from archive_helpers import files_under, temp_files

from visiono_async.download import (
    AiohttpTransport,
    ArchiveReport,
    LeanTransport,
    RemoteFile,
    SignedURLSource,
    StorageTransport,
    archive,
    read_manifest,
)

MakeTransport = Callable[..., StorageTransport]
"""Makes a transport of the kind under test; keyword options are the same for both kinds."""

KINDS = ["lean", "aiohttp"]
"""The transports every contract runs against (the ``transport`` fixture's params)."""


async def transports_of(kind: str) -> AsyncIterator[MakeTransport]:
    """A ``MakeTransport`` for ``kind``; every transport it made is closed at the end."""
    made: list[StorageTransport] = []

    def make(**options: Any) -> StorageTransport:
        options.setdefault("read_timeout", 5.0)
        chosen = LeanTransport if kind == "lean" else AiohttpTransport
        made.append(chosen(**options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


def photo(url: str, name: str = "a", **fields: Any) -> RemoteFile:
    """A JPEG to archive as ``<name>.jpg``."""
    return RemoteFile(id=name, url=url, mime_type="image/jpeg", fields={"id": name}, **fields)


async def run(
    transport: StorageTransport, dest: Path, *files: RemoteFile, **options: Any
) -> ArchiveReport:
    """Archive ``files`` one at a time (unless ``concurrency`` says) through ``transport``."""
    options.setdefault("concurrency", 1)
    with anyio.fail_after(30):
        return await archive(
            None,
            dest,
            source=SignedURLSource.from_files(files),
            template="{id}{ext}",
            transport=transport,
            **options,
        )


async def assert_stored(dest: Path, expected: dict[str, bytes]) -> None:
    """Exactly these files are on disk, in the manifest, sizes and hashes; no temp file."""
    assert expected == files_under(dest)
    entries = {e.path: e for e in await read_manifest(dest)}
    assert set(expected) == set(entries)
    for path, body in expected.items():
        assert (len(body), hashlib.sha256(body).hexdigest()) == (
            entries[path].bytes,
            entries[path].sha256,
        )
    assert [] == temp_files(dest)


def reasons(report: ArchiveReport) -> list[str]:
    """The failure reasons of a report, in order."""
    return [f.reason for f in report.failed]
