"""Which HTTP client fetches from storage: the pipeline's own, or the caller's aiohttp session.

By default the pipeline fetches with its lean client (``StorageHTTP``); an ``http=`` session,
or the session given to ``VisionoClient(http_session=)``, is used instead when the caller
chose one (a proxy, their TLS settings, tracing). Both paths must archive the same files and
turn the same storage faults into the same retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from archive_helpers import files_under, seed, temp_files

from visiono_async import VisionoClient
from visiono_async.download import _pipeline as pipeline_module
from visiono_async.download import archive, read_manifest
from visiono_async.download._http import StorageHTTP


class _Traced:
    """An aiohttp session whose requests are recorded (the caller's own session)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_start)
        self.session = aiohttp.ClientSession(trace_configs=[trace])

    async def _on_start(self, _session: Any, _ctx: Any, params: Any) -> None:
        self.urls.append(str(params.url))

    def storage_urls(self) -> list[str]:
        return [u for u in self.urls if "/storage/" in u]


async def test_default_client_fetches_storage_with_its_own_http(
    client: Any, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a session of the caller's, storage goes through one StorageHTTP, kept alive."""
    made: list[StorageHTTP] = []

    class Recorded(StorageHTTP):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            made.append(self)

    monkeypatch.setattr(pipeline_module, "StorageHTTP", Recorded)
    seeded = await seed(client, emulator, 6)
    report = await archive(
        client, tmp_path / "a", photo_requests=[seeded.photo_request_id], concurrency=2
    )
    assert 6 == report.downloaded
    assert 1 == len(made)
    assert 1 <= made[0].connections_made <= 2  # two transfers at a time, connections reused
    assert 6 == int(emulator.count("GET", "/storage/"))


async def test_the_callers_http_session_is_used_for_storage(
    emulator: Any, api_key: str, tmp_path: Path
) -> None:
    """VisionoClient(http_session=...) means the caller's session fetches storage too."""
    traced = _Traced()
    async with (
        traced.session,
        VisionoClient(
            api_key=api_key,
            base_url=emulator.base_url,
            rate_limit=None,
            http_session=traced.session,
        ) as client,
    ):
        seeded = await seed(client, emulator, 3)
        report = await archive(client, tmp_path / "a", photo_requests=[seeded.photo_request_id])
    assert 3 == report.downloaded
    assert 3 == len(traced.storage_urls())
    assert set(seeded.photos.values()) == set(files_under(tmp_path / "a").values())


async def test_an_explicit_http_session_survives_a_cut_body(
    client: Any, emulator: Any, tmp_path: Path
) -> None:
    """archive(http=...) resumes a body cut off mid-stream, like the built-in client does."""
    seeded = await seed(client, emulator, 1, sizes=[600_000])
    ((sub_id, photo),) = seeded.photos.items()
    emulator.faults.cut_body(400_000, path="/storage/")
    traced = _Traced()
    dest = tmp_path / "a"
    async with traced.session:
        report = await archive(
            client,
            dest,
            photo_requests=[seeded.photo_request_id],
            http=traced.session,
            chunk_size=64 * 1024,
            backoff=0.01,
        )
    assert report.ok
    assert 2 == len(traced.storage_urls())  # the cut transfer and its resume
    gets = [r for r in emulator.requests if "/storage/" in r.path]
    assert gets[1].range is not None
    (entry,) = await read_manifest(dest)
    assert photo == (dest / entry.path).read_bytes()
    assert seeded.sha256(sub_id) == entry.sha256
    assert [] == temp_files(dest)
