"""The origin every benchmark downloads from: nginx on loopback, behind the Visiono emulator.

The emulator's storage is a :class:`NginxStorage`: the pipeline makes real ``download-urls``
calls to the emulator and fetches the photos from nginx. The peers (curl, aria2c, plain
aiohttp) get the very same signed URLs, read once from ``download-urls`` before timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import TracebackType

from _harness import TLS, Dataset, put_dataset, signed_jobs

from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator
from visiono_async.testing._nginx import NginxStorage


@dataclass
class Seeded:
    """A dataset on the origin: URL/name pairs for the peers, photo requests for the pipeline."""

    jobs: list[tuple[str, str]]
    request_ids: list[str]


class Origin:
    """nginx (NginxStorage) and, unless ``pipeline=False``, the emulator in front of it.

    Args:
        pipeline: Start the emulator and seed through it (photo requests, submissions).
        workers: nginx worker processes.
        response_delay: Seconds nginx holds back every response (see NginxStorage).
        url_ttl: Validity of the emulator's signed URLs.
        tls: Serve the photos over HTTPS with this certificate (None: plain HTTP). The
            emulator's API stays plain HTTP: only storage, where the bytes are, changes.
    """

    def __init__(
        self,
        *,
        pipeline: bool = True,
        workers: int = 1,
        response_delay: float = 0.0,
        url_ttl: float = 6 * 3600,
        tls: TLS | None = None,
    ) -> None:
        self.storage = (
            NginxStorage(workers=workers, response_delay=response_delay)
            if tls is None
            else NginxStorage(
                workers=workers,
                response_delay=response_delay,
                certfile=tls.certfile,
                keyfile=tls.keyfile,
            )
        )
        self._url_ttl = url_ttl
        self.emulator = (
            VisionoEmulator(
                rate_limit_per_minute=1_000_000,
                rate_limit_per_hour=10_000_000,
                url_ttl=url_ttl,
                storage=self.storage,
            )
            if pipeline
            else None
        )
        self.client: VisionoClient | None = None
        self.base_url = ""
        self.api_key = ""
        self._seeded = 0

    async def __aenter__(self) -> Origin:
        if self.emulator is None:
            await self.storage.start()
            return self
        await self.emulator.start()  # starts the storage too
        self.api_key = self.emulator.create_api_key()
        self.base_url = self.emulator.base_url
        self.client = VisionoClient(api_key=self.api_key, base_url=self.base_url, rate_limit=None)
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.emulator is not None:
            await self.emulator.aclose()
        else:
            await self.storage.aclose()

    async def seed(self, dataset: Dataset, *, per_request: int = 20) -> Seeded:
        """Put the dataset on the origin: photo requests of ``per_request`` submitted photos."""
        self._seeded += 1
        if self.emulator is None or self.client is None:
            keys = await put_dataset(self.storage, dataset, f"d{self._seeded}")
            return Seeded(signed_jobs(self.storage, keys, self._url_ttl), [])
        emulator, client = self.emulator, self.client
        sizes = [
            min(per_request, dataset.count - i * per_request)
            for i in range(math.ceil(dataset.count / per_request))
        ]
        specs = [
            {
                "instructions": f"benchmark {self._seeded}.{n}",
                "items": [{"instructions": f"photo {j}", "is_required": True} for j in range(k)],
            }
            for n, k in enumerate(sizes)
        ]
        created = await client.photo_requests.create_many(specs)
        for pr in created:
            for item in pr.items:
                await emulator.simulate_submission(pr.id, item.id, size=dataset.size)
        jobs: list[tuple[str, str]] = []
        for pr in created:
            urls = await client.photo_requests.download_urls(pr.id)
            for sub in urls.submissions:
                assert sub.download_url is not None
                jobs.append((sub.download_url, f"{sub.id}.jpg"))
        return Seeded(jobs, [pr.id for pr in created])
