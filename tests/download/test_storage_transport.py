"""Which transport fetches from storage: the pipeline's own, the caller's, or an aiohttp session.

By default the pipeline fetches with its lean transport (``LeanTransport``); ``transport=``
takes any ``StorageTransport``, and an ``http=`` session, or the session given to
``VisionoClient(http_session=)``, means ``AiohttpTransport`` over that session. Every path
must archive the same files and turn the same storage faults into the same retries.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
from archive_helpers import files_under, seed, temp_files

from visiono_async import VisionoClient
from visiono_async.download import (
    AiohttpTransport,
    LeanTransport,
    StorageResponse,
    StorageTransport,
    archive,
    iter_archive,
    read_manifest,
)


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


class _Counting:
    """A transport of the caller's own that counts its GETs and delegates them."""

    def __init__(self, inner: StorageTransport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        /,
        *,
        sensitive: Collection[str] = (),
    ) -> AbstractAsyncContextManager[StorageResponse]:
        self.urls.append(url)
        return self.inner.get(url, headers, sensitive=sensitive)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_lean_transport_passed_in_fetches_storage_and_stays_open(
    client: Any, emulator: Any, tmp_path: Path
) -> None:
    """transport=LeanTransport(): one pool for the run, kept alive, still usable after it."""
    seeded = await seed(client, emulator, 6)
    async with LeanTransport() as transport:
        report = await archive(
            client,
            tmp_path / "a",
            photo_requests=[seeded.photo_request_id],
            concurrency=2,
            transport=transport,
        )
        assert 6 == report.downloaded
        assert 1 <= transport.connections_made <= 2  # two at a time, connections reused
        again = await archive(
            client, tmp_path / "b", photo_requests=[seeded.photo_request_id], transport=transport
        )
        assert 6 == again.downloaded
    assert 12 == int(emulator.count("GET", "/storage/"))


async def test_any_storage_transport_is_accepted(
    client: Any, emulator: Any, tmp_path: Path
) -> None:
    """A transport of the caller's own (the protocol, no subclassing) fetches every file."""
    seeded = await seed(client, emulator, 3)
    async with LeanTransport() as lean:
        counting = _Counting(lean)
        report = await archive(
            client, tmp_path / "a", photo_requests=[seeded.photo_request_id], transport=counting
        )
    assert 3 == report.downloaded
    assert 3 == len(counting.urls)
    assert set(seeded.photos.values()) == set(files_under(tmp_path / "a").values())


async def test_a_clients_storage_transport_serves_every_run(
    emulator: Any, api_key: str, tmp_path: Path
) -> None:
    """VisionoClient(storage_transport=...): archive() runs that name none use it; a run's
    own transport= still wins."""
    async with LeanTransport() as lean, LeanTransport() as other:
        counting, chosen = _Counting(lean), _Counting(other)
        async with VisionoClient(
            api_key=api_key, base_url=emulator.base_url, rate_limit=None, storage_transport=counting
        ) as client:
            assert counting is client.storage_transport
            assert client.http_session is None  # the client's own session is not storage's
            seeded = await seed(client, emulator, 2)
            first = await client.archive(tmp_path / "a", photo_requests=[seeded.photo_request_id])
            second = await archive(
                client, tmp_path / "b", photo_requests=[seeded.photo_request_id], transport=chosen
            )
    assert (2, 2) == (first.downloaded, second.downloaded)
    assert (2, 2) == (len(counting.urls), len(chosen.urls))


async def test_iter_archive_takes_a_transport(client: Any, emulator: Any, tmp_path: Path) -> None:
    """iter_archive(..., transport=...) fetches through it too."""
    seeded = await seed(client, emulator, 2)
    async with LeanTransport() as lean:
        counting = _Counting(lean)
        async with iter_archive(
            client, tmp_path / "a", photo_requests=[seeded.photo_request_id], transport=counting
        ) as events:
            kinds = [event.kind async for event in events]
    assert 2 == kinds.count("file_done")
    assert 2 == len(counting.urls)


async def test_an_aiohttp_transport_with_its_own_session(
    client: Any, emulator: Any, tmp_path: Path
) -> None:
    """AiohttpTransport() without a session makes (and closes) one of its own."""
    seeded = await seed(client, emulator, 3)
    async with AiohttpTransport() as transport:
        report = await archive(
            client, tmp_path / "a", photo_requests=[seeded.photo_request_id], transport=transport
        )
    assert 3 == report.downloaded
    assert set(seeded.photos.values()) == set(files_under(tmp_path / "a").values())


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
        assert traced.session is client.http_session
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
