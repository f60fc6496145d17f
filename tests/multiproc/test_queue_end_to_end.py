"""End to end: emulator webhooks -> FastAPI receiver under uvicorn -> arq queue in Redis ->
three worker processes archiving into one destination, one of them killed mid-job."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from arq import Retry, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from tests.children import child_env, python_child
from tests.conftest import require_binary
from tests.download.archive_helpers import files_under, seed
from tests.integrations.helpers import serve_asgi
from tests.multiproc.helpers import RestartableRedis, restartable_redis
from tests.test_examples_receivers import EXAMPLES, load_example, run_demo
from visiono_async import VisionoClient
from visiono_async.download import ManifestEntry, read_manifest
from visiono_async.download._manifest import STATE_DIR
from visiono_async.integrations.arq import archive_job, archive_job_id
from visiono_async.testing import VisionoEmulator, sample_jpeg

pytestmark = pytest.mark.redis

EXAMPLE = str(EXAMPLES / "multiprocess_archive.py")
REQUESTS, PHOTOS = 3, 4


class Secret:
    value = ""

    def __call__(self) -> str:
        return self.value


class Worker:
    """A worker child process and the log lines it wrote."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def read(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        async for chunk in self.process.stderr:
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            self.lines += [line.decode(errors="replace") for line in done]

    def started_job(self) -> str | None:
        """The photo request of the first job this worker started."""
        for line in self.lines:
            if "→ visiono:archive:" in line:
                return line.split("visiono:archive:", 1)[1].split(":")[1]
        return None


async def poll(predicate: object, workers: list[Worker], timeout: float = 30.0) -> None:
    """Poll until ``predicate()`` is true; on a timeout, fail with the workers' logs."""
    with anyio.move_on_after(timeout) as scope:
        while not await predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await anyio.sleep(0.05)
    if scope.cancelled_caught:
        logs = "\n---\n".join("\n".join(w.lines[-30:]) for w in workers)
        pytest.fail(f"{getattr(predicate, '__name__', predicate)} timed out; workers:\n{logs}")


@pytest.fixture
def redis(tmp_path: Path) -> AsyncIterator[RestartableRedis]:
    with restartable_redis(tmp_path) as server:
        yield server  # type: ignore[misc]


async def test_webhooks_to_queue_to_three_workers_one_killed(
    redis: RestartableRedis, tmp_path: Path
) -> None:
    """Every photo lands on disk once with its bytes and one manifest row, and the job whose
    worker was killed mid-way is run again by another worker and finishes."""
    example = load_example("multiprocess_archive")
    dest = tmp_path / "archive"
    secret = Secret()
    async with VisionoEmulator(
        webhook_time_factor=0.001, rate_limit_per_minute=10_000, rate_limit_per_hour=100_000
    ) as emu:
        key = emu.create_api_key()
        env = child_env(
            REDIS_URL=redis.url, VISIONO_API_KEY=key, VISIONO_BASE_URL=emu.base_url,
            ARCHIVE_JOB_TIMEOUT="3", ARCHIVE_LEASE_GRACE="0.5", ARCHIVE_MAX_JOBS="1",
        )  # fmt: skip
        app = example.create_app(
            redis_url=redis.url, secret=secret, archive_dir=str(dest), concurrency=1
        )
        # Slow storage: a job of four photos one at a time takes over a second.
        emu.faults.delay(0.25, path="/storage/")
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(
                VisionoClient(api_key=key, base_url=emu.base_url, rate_limit=None)
            )
            url = await stack.enter_async_context(serve_asgi(app))
            endpoint = await client.webhooks.create(
                url=url + "/webhooks/visiono", events=["photo_request.submitted"]
            )
            secret.value = endpoint.secret or ""
            workers = [
                Worker(await stack.enter_async_context(python_child(EXAMPLE, "worker", env=env)))
                for _ in range(3)
            ]
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)  # runs first on the way out: readers stop
            for worker in workers:
                tg.start_soon(worker.read)

            async def all_ready() -> bool:
                return all(any("Starting worker" in line for line in w.lines) for w in workers)

            await poll(all_ready, workers)
            photos: dict[str, bytes] = {}
            requests: list[str] = []
            for r in range(REQUESTS):
                pr = await client.photo_requests.create(
                    instructions="e2e", items=[{"instructions": f"{i}"} for i in range(PHOTOS)]
                )
                requests.append(pr.id)
                for i, item in enumerate(pr.items):
                    content = sample_jpeg(8_000 + 100 * i, seed=10 * r + i)
                    sub = await emu.simulate_submission(pr.id, item.id, content=content)
                    photos[sub["id"]] = content

            def midway(worker: Worker, rows: list[ManifestEntry]) -> bool:
                """Whether the worker's job has recorded some of its photos, not all."""
                pr = worker.started_job()
                return pr is not None and 0 < sum(r.photo_request_id == pr for r in rows) < PHOTOS

            async def one_worker_midway() -> bool:
                rows = await read_manifest(dest)
                return any(midway(w, rows) for w in workers)

            await poll(one_worker_midway, workers)
            rows = await read_manifest(dest)
            victim = next(w for w in workers if midway(w, rows))
            killed_pr = victim.started_job()
            victim.process.kill()  # SIGKILL: no clean-up of any kind

            async def all_recorded() -> bool:
                return len(await read_manifest(dest)) >= len(photos)

            await poll(all_recorded, workers)
            pool = await create_pool(RedisSettings.from_dsn(redis.url))
            try:
                assert killed_pr is not None
                job = Job(archive_job_id(killed_pr, str(dest)), pool)
                summary = await job.result(timeout=10)
                info = await job.result_info()
            finally:
                await pool.aclose()

            async def no_temp_files() -> bool:
                return not list((dest / STATE_DIR / "tmp").iterdir())

            await poll(no_temp_files, workers, timeout=10)
            storage_gets = sum(1 for r in emu.requests if not r.api and r.method == "GET")
    rows = await read_manifest(dest)
    on_disk = files_under(dest)
    assert sorted(photos) == sorted(r.submission_id for r in rows)
    assert len(rows) == len({r.id for r in rows})
    assert {r.path: photos[r.submission_id or ""] for r in rows} == on_disk
    # Run again by another worker: the photos the dead one recorded are skipped.
    assert info is not None and info.job_try is not None and info.job_try >= 2
    assert PHOTOS == summary["downloaded"] + summary["skipped"]
    assert summary["skipped"] >= 1
    # At most the one photo in flight when the worker died was fetched a second time.
    assert len(photos) <= storage_gets <= len(photos) + 1


def test_the_example_demo_runs_the_whole_architecture(tmp_path: Path) -> None:
    """`python examples/multiprocess_archive.py --demo`: receiver, queue, three workers."""
    require_binary("redis-server")
    done = run_demo("multiprocess_archive", tmp_path)
    assert 0 == done.returncode, done.stderr[-3000:]
    assert "5 photos archived by 3 workers into photos:" in done.stdout
    archived = files_under(tmp_path / "photos")
    assert 5 == len(archived)
    assert all(
        line.split()[0] in archived for line in done.stdout.splitlines() if line.startswith("  ")
    )


class TestArchiveJob:
    async def test_failed_files_make_arq_run_the_job_again(
        self, client: VisionoClient, emulator: VisionoEmulator, tmp_path: Path
    ) -> None:
        """A photo that fails raises arq's Retry (later, longer each try); the next try
        archives only what is missing and returns the summary."""
        seeded = await seed(client, emulator, 3)
        emulator.faults.fail_next(1, status=404, path="/storage/")
        ctx = {"visiono_client": client, "job_try": 2}
        with pytest.raises(Retry) as info:
            await archive_job(ctx, seeded.photo_request_id, str(tmp_path), {"max_attempts": 1})
        assert 10_000 == info.value.defer_score
        summary = await archive_job(ctx, seeded.photo_request_id, str(tmp_path), {})
        assert {
            "photo_request_id": seeded.photo_request_id,
            "downloaded": 1,
            "skipped": 2,
            "failed": 0,
        } == {k: v for k, v in summary.items() if k != "bytes"}
        assert sorted(seeded.photos.values()) == sorted(files_under(tmp_path).values())
