"""Several processes on one Visiono key: a webhook receiver, a job queue and archive workers.

::

    Visiono --webhook--> FastAPI receiver(s) --enqueue--> Redis (arq queue) --> worker 1..N
                          (RedisEventStore:             (+ the key's shared      |
                           one delivery, one job)        rate-limit budget)      v
                                                                          one destination

- the receiver (any number of uvicorn workers) verifies each delivery, de-duplicates it in
  Redis (``RedisEventStore``: a ``MemoryEventStore`` is per process) and, for
  ``photo_request.submitted``, queues one archive job (``archive_on_submitted``);
- each worker process runs the jobs with ``client.archive(..., shared_dest=True)``: workers
  archive into one folder at once, every file fetched and written once, and their API calls
  draw from one budget in Redis (``RateLimit(redis_url=...)``);
- a job whose worker dies is run again by another worker and skips what was finished.

Against the real API (``REDIS_URL``, ``VISIONO_API_KEY``, ``VISIONO_WEBHOOK_SECRET`` and
``ARCHIVE_DIR`` set)::

    uvicorn --factory examples.multiprocess_archive:create_app --workers 2
    python examples/multiprocess_archive.py worker        # as many as you like

With no key, against the emulator, everything in one command (needs ``redis-server``)::

    python examples/multiprocess_archive.py --demo
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from fastapi import FastAPI

from visiono_async.integrations.arq import archive_on_submitted, run_worker, worker_settings
from visiono_async.integrations.fastapi import webhook_router
from visiono_async.webhooks import WebhookReceiver
from visiono_async.webhooks.stores import RedisEventStore

WEBHOOK_PATH = "/webhooks/visiono"
EVENTS = ["photo_request.submitted"]


def create_app(
    *,
    redis_url: str | None = None,
    secret: str | Callable[[], str] | None = None,
    archive_dir: str | None = None,
    **archive_options: Any,
) -> FastAPI:
    """The webhook receiver: verify, de-duplicate in Redis, queue an archive job.

    ``archive_options`` go with every job to ``client.archive`` (``concurrency``, ...)."""
    redis_url = redis_url or os.environ["REDIS_URL"]
    dest = archive_dir or os.environ.get("ARCHIVE_DIR", "photos")
    pools: dict[str, ArqRedis] = {}
    receiver = WebhookReceiver(
        secret if secret is not None else os.environ["VISIONO_WEBHOOK_SECRET"],
        archive_on_submitted(lambda: pools["arq"], dest, **archive_options),
        store=RedisEventStore(redis_url, prefix="visiono-example"),
        # Acknowledge once the job is queued: if Redis is down, Visiono delivers again.
        ack="after_handler",
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pools["arq"] = await create_pool(RedisSettings.from_dsn(redis_url))
        try:
            yield
        finally:
            await pools.pop("arq").aclose()
            await receiver.aclose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(webhook_router(receiver, path=WEBHOOK_PATH))
    return app


def worker() -> None:
    """One archive worker process (stops on SIGINT/SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = worker_settings(
        os.environ["REDIS_URL"],
        job_timeout=float(os.environ.get("ARCHIVE_JOB_TIMEOUT", "3600")),
        lease_grace=float(os.environ.get("ARCHIVE_LEASE_GRACE", "10")),
        max_jobs=int(os.environ.get("ARCHIVE_MAX_JOBS", "4")),
    )
    run_worker(settings)


@contextlib.contextmanager
def redis_server(workdir: str) -> Iterator[str]:
    """A throw-away redis-server on a unix socket (for the demo)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("the demo needs redis-server (apt-get install redis-server), or set REDIS_URL")
    path = os.path.join(workdir, "redis.sock")
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", path, "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            if os.path.exists(path):
                break
            if process.poll() is not None:
                sys.exit("redis-server did not start")
            import time

            time.sleep(0.01)
        yield f"unix://{path}"
    finally:
        process.terminate()
        process.wait()


async def demo(archive_dir: Path, workers: int = 3) -> None:
    """The whole architecture on the emulator: 2 photo requests archived by 3 workers."""
    import uvicorn

    from visiono_async import VisionoClient
    from visiono_async.download import read_manifest
    from visiono_async.testing import VisionoEmulator

    with tempfile.TemporaryDirectory() as workdir, redis_server(workdir) as redis_url:
        async with VisionoEmulator(webhook_time_factor=0.01) as emulator:
            key = emulator.create_api_key()
            env = {
                **os.environ,
                "REDIS_URL": redis_url,
                "VISIONO_API_KEY": key,
                "VISIONO_BASE_URL": emulator.base_url,
            }
            # Each worker's log goes to a file, shown only if the demo fails.
            logs = [Path(workdir, f"worker-{n + 1}.log") for n in range(workers)]
            children = []
            for log in logs:
                with log.open("wb") as err:
                    children.append(
                        await anyio.open_process(
                            [sys.executable, __file__, "worker"], env=env, stderr=err
                        )
                    )
            secret: dict[str, str] = {}
            app = create_app(
                redis_url=redis_url, secret=lambda: secret["value"], archive_dir=str(archive_dir)
            )
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            server = uvicorn.Server(
                uvicorn.Config(app, log_level="warning", ws="none", timeout_graceful_shutdown=5)
            )
            try:
                async with (
                    contextlib.AsyncExitStack() as stack,
                    VisionoClient(api_key=key, base_url=emulator.base_url) as client,
                    anyio.create_task_group() as tg,
                ):
                    stack.callback(sock.close)
                    tg.start_soon(server.serve, [sock])
                    while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
                        await anyio.sleep(0.01)
                    endpoint = await client.webhooks.create(url=url + WEBHOOK_PATH, events=EVENTS)
                    secret["value"] = endpoint.secret or ""
                    expected = 0
                    for n in (3, 2):
                        pr = await client.photo_requests.create(
                            instructions="Photos, please",
                            items=[{"instructions": f"photo {i + 1}"} for i in range(n)],
                        )
                        for _ in range(n):
                            await emulator.simulate_submission(pr.id)
                        expected += n
                        print(f"{pr.id}: {n} photos submitted")
                    with anyio.move_on_after(30):
                        # The workers are other processes: the manifest is what they share.
                        while len(await read_manifest(archive_dir)) < expected:  # noqa: ASYNC110
                            await anyio.sleep(0.1)
                    have = len(await read_manifest(archive_dir))
                    if have < expected:
                        answers = [[a.status_code for a in d.attempts] for d in emulator.deliveries]
                        tails = "".join(
                            f"\n--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:])
                            for log in logs
                        )
                        raise SystemExit(
                            f"only {have} of {expected} photos recorded after 30 s "
                            f"(the receiver answered the deliveries with {answers}){tails}"
                        )
                    server.should_exit = True
            finally:
                for child in children:
                    with contextlib.suppress(ProcessLookupError):
                        child.terminate()
                for child in children:
                    with anyio.move_on_after(10):  # a worker finishing its job, then gone
                        await child.wait()
                    if child.returncode is None:
                        child.kill()
                        await child.wait()
        rows = await read_manifest(archive_dir)
        print(f"{len(rows)} photos archived by {workers} workers into {archive_dir}:")
        for row in rows:
            print(f"  {row.path}  {row.bytes} bytes")


def main(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", choices=["worker"], help="run an archive worker")
    parser.add_argument("--demo", action="store_true", help="everything, on the emulator")
    parser.add_argument("--archive-dir", default="photos", type=Path)
    args = parser.parse_args(argv)
    if args.role == "worker":
        return worker()
    if args.demo:
        return asyncio.run(demo(args.archive_dir))
    parser.print_help()
    return None


if __name__ == "__main__":
    main()
