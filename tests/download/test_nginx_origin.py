"""archive() against a real storage origin: the emulator's photos behind nginx secure_link."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import attrs
import pytest

from tests.conftest import require_binary
from visiono_async import VisionoClient
from visiono_async.download import archive, read_manifest
from visiono_async.testing import VisionoEmulator
from visiono_async.testing._nginx import NginxStorage

# anyio explicitly: the conftest adds it after collection, which drops parametrize ids.
pytestmark = [pytest.mark.nginx, pytest.mark.anyio]


class ExpiredFirstStorage(NginxStorage):
    """Signs every key's first URL already expired, as if it had aged in a queue: nginx
    answers 410 although the API said the URL was fresh."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.signed_before: set[str] = set()

    def signed_url(self, key: str, expires_at: float) -> str:
        if key in self.signed_before:
            return super().signed_url(key, expires_at)
        self.signed_before.add(key)
        return super().signed_url(key, time.time() - 60)


class TamperedStorage(NginxStorage):
    """Every URL carries a wrong signature: nginx answers 403, refresh or not."""

    def signed_url(self, key: str, expires_at: float) -> str:
        parts = urlsplit(super().signed_url(key, expires_at))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["md5"] = "A" * 22
        return urlunsplit(parts._replace(query=urlencode(query)))


@attrs.frozen
class Origin:
    """The emulator, its nginx storage and a client; ``photos`` maps submission id to bytes."""

    emulator: VisionoEmulator
    storage: NginxStorage
    client: VisionoClient
    request_ids: list[str]
    photos: dict[str, bytes]

    def download_url_calls(self) -> int:
        """``download-urls`` calls the emulator served."""
        return self.emulator.count("GET", "/download-urls")

    async def storage_log(self) -> list[str]:
        """nginx's access log, every request answered so far: ``method path status bytes``."""
        return await self.storage.logged_requests()


@asynccontextmanager
async def nginx_origin(
    storage: NginxStorage,
    *,
    requests: int = 3,
    photos_per_request: int = 4,
    size: Callable[[int], int] = lambda n: 20_000 + 1_111 * n,
    url_ttl: float = 86400.0,
) -> AsyncIterator[Origin]:
    """An emulator on ``storage`` with submitted photo requests, and a client for it."""
    require_binary("nginx")
    async with VisionoEmulator(
        rate_limit_per_minute=10_000,
        rate_limit_per_hour=100_000,
        url_ttl=url_ttl,
        storage=storage,
    ) as emu:
        key = emu.create_api_key()
        async with VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=None) as client:
            ids: list[str] = []
            photos: dict[str, bytes] = {}
            n = 0
            for r in range(requests):
                pr = await client.photo_requests.create(
                    instructions=f"origin test {r}",
                    items=[
                        {"instructions": f"photo {i}", "is_required": True}
                        for i in range(photos_per_request)
                    ],
                )
                ids.append(pr.id)
                for item in pr.items:
                    sub = await emu.simulate_submission(pr.id, item.id, size=size(n))
                    n += 1
                    photos[sub["id"]] = (storage.root / sub["id"] / "original.jpg").read_bytes()
            yield Origin(emu, storage, client, ids, photos)


def archived_photos(dest: Path) -> dict[str, bytes]:
    """Every file under ``dest`` outside the pipeline's state folder, by relative path."""
    found = {}
    for dirpath, dirnames, names in os.walk(dest):
        dirnames[:] = [d for d in dirnames if d != ".visiono"]
        for name in names:
            path = Path(dirpath, name)
            found[path.relative_to(dest).as_posix()] = path.read_bytes()
    return found


async def assert_archived_exactly(origin: Origin, dest: Path) -> None:
    """Disk and manifest hold every photo of the origin, byte for byte, and nothing else."""
    manifest = {entry.submission_id: entry for entry in await read_manifest(dest)}
    on_disk = archived_photos(dest)
    assert set(origin.photos) == set(manifest)
    assert {manifest[sid].path for sid in origin.photos} == set(on_disk)
    for sid, content in origin.photos.items():
        entry = manifest[sid]
        assert content == on_disk[entry.path]
        assert hashlib.sha256(content).hexdigest() == entry.sha256
        assert len(content) == entry.bytes


class TestArchiveFromNginx:
    async def test_every_photo_arrives_byte_for_byte(self, tmp_path: Path) -> None:
        """Each photo is fetched once from nginx and archived with its hash in the manifest."""
        async with nginx_origin(NginxStorage(access_log=True)) as origin:
            report = await archive(origin.client, tmp_path, photo_requests=origin.request_ids)

            await assert_archived_exactly(origin, tmp_path)
            assert (12, 0, []) == (report.downloaded, report.skipped, report.failed)
            assert sum(map(len, origin.photos.values())) == report.bytes
            assert 3 == origin.download_url_calls()
            gets = [line for line in await origin.storage_log() if line.startswith("GET ")]
            assert 12 == len(gets)
            assert all(line.split()[2] == "200" for line in gets)

    async def test_a_rerun_downloads_nothing_and_never_asks_nginx(self, tmp_path: Path) -> None:
        """The second run skips every file from the manifest without one storage request."""
        async with nginx_origin(NginxStorage(access_log=True)) as origin:
            await archive(origin.client, tmp_path, photo_requests=origin.request_ids)
            requests_before = len(await origin.storage_log())

            again = await archive(origin.client, tmp_path, photo_requests=origin.request_ids)

            assert (0, 12, []) == (again.downloaded, again.skipped, again.failed)
            assert requests_before == len(await origin.storage_log())
            await assert_archived_exactly(origin, tmp_path)


class TestExpiredURLs:
    async def test_a_410_from_nginx_refreshes_once_per_request(self, tmp_path: Path) -> None:
        """URLs nginx already considers expired cost one coalesced refresh per photo request."""
        storage = ExpiredFirstStorage(access_log=True)
        async with nginx_origin(storage, requests=2, photos_per_request=5) as origin:
            report = await archive(origin.client, tmp_path, photo_requests=origin.request_ids)

            await assert_archived_exactly(origin, tmp_path)
            assert (10, []) == (report.downloaded, report.failed)
            assert 2 * 2 == origin.download_url_calls()
            statuses = [line.split()[2] for line in await origin.storage_log()]
            assert 10 == statuses.count("410")
            assert 10 == statuses.count("200")

    async def test_urls_expiring_mid_run_are_refreshed(self, tmp_path: Path) -> None:
        """With a 2 s URL lifetime and a run of several seconds, the run completes and the
        refreshes stay coalesced (fewer ``download-urls`` calls than files)."""
        # 64 KiB at 32 KiB/s takes about a second per photo: 8 photos two at a time run
        # about 4 s, twice the URLs' lifetime.
        storage = NginxStorage(access_log=True, limit_rate=32 * 1024)
        async with nginx_origin(
            storage, requests=1, photos_per_request=8, size=lambda n: 64 * 1024, url_ttl=2
        ) as origin:
            report = await archive(
                origin.client, tmp_path, photo_requests=origin.request_ids, concurrency=2
            )

            await assert_archived_exactly(origin, tmp_path)
            assert (8, []) == (report.downloaded, report.failed)
            assert 2 <= origin.download_url_calls() < 8


class TestRejectedURLs:
    async def test_tampered_urls_fail_every_file_and_write_nothing(self, tmp_path: Path) -> None:
        """A 403 that survives refreshes fails each file with http_403; no photo lands on disk."""
        storage = TamperedStorage(access_log=True)
        async with nginx_origin(storage, requests=2, photos_per_request=3) as origin:
            report = await archive(origin.client, tmp_path, photo_requests=origin.request_ids)

            assert 0 == report.downloaded
            assert ["http_403"] * 6 == [f.reason for f in report.failed]
            assert {} == archived_photos(tmp_path)
            assert [] == await read_manifest(tmp_path)
            statuses = {line.split()[2] for line in await origin.storage_log()}
            assert {"403"} == statuses
            # Refreshes are coalesced per request: at most the first fetch and three retries.
            assert origin.download_url_calls() <= 2 * 4


_OWNER = """
import sys, time, anyio
from visiono_async.testing._nginx import NginxStorage

async def main():
    storage = NginxStorage()
    await storage.start()
    print(storage._directory(), flush=True)
    await anyio.sleep(3600)

anyio.run(main)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_nginx_ends_when_its_owner_is_killed() -> None:
    """SIGKILL to the process that started NginxStorage: nginx stops too, not orphaned."""
    import shutil
    import signal
    import subprocess
    import sys

    require_binary("nginx")
    require_binary("setpriv")  # util-linux: what makes nginx end with its owner
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True
    ) as owner:
        try:
            assert owner.stdout is not None
            directory = Path(owner.stdout.readline().strip())
            master = int((directory / "nginx.pid").read_text())
            assert _alive(master)
        finally:
            owner.send_signal(signal.SIGKILL)
            owner.wait()
    deadline = time.monotonic() + 10
    while _alive(master) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(master):  # do not leave it behind for the rest of the run
        os.kill(master, signal.SIGTERM)
    assert not _alive(master)
    shutil.rmtree(directory, ignore_errors=True)
