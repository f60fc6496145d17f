"""arq integration (the ``arq`` extra): archive photo requests in queue worker processes.

A webhook receiver enqueues one job per submitted photo request; any number of worker
processes (on any number of hosts sharing the Redis) run the jobs with
``client.archive(...)``, drawing from one rate-limit budget in the same Redis::

    # the web app (the webhook receiver)
    pool = await arq.create_pool(RedisSettings.from_dsn(REDIS_URL))
    receiver = WebhookReceiver(secret, archive_on_submitted(pool, "/srv/photos"),
                               store=RedisEventStore(REDIS_URL))

    # each worker process
    run_worker(worker_settings(REDIS_URL))          # or: arq myapp.WorkerSettings

A job is safe to run twice and at the same time as another: workers on one host archive
into one destination with ``shared_dest=True`` (each file is claimed, fetched and written
once). A job whose worker dies stays in the queue and is run again by another worker once
its lease (``job_timeout + lease_grace`` seconds) runs out; it skips what the dead worker
had finished.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._extras import require_extra

with require_extra("arq", "visiono_async.integrations.arq"):
    from arq import ArqRedis, Retry
    from arq.connections import RedisSettings
    from arq.jobs import Job
    from arq.worker import Worker, func

from .._client import VisionoClient
from .._config import RateLimit
from ..webhooks import PhotoRequestSubmitted, WebhookEvent

__all__ = [
    "ARCHIVE_JOB",
    "archive_job",
    "archive_job_id",
    "archive_on_submitted",
    "enqueue_archive",
    "run_worker",
    "worker_settings",
]

ARCHIVE_JOB = "visiono_archive"
"""The arq function name of the archive job."""

_CLIENT = "visiono_client"


def archive_job_id(photo_request_id: str, dest: str) -> str:
    """The job id of one photo request's archive into ``dest``: a repeated delivery (or a
    second receiver process) enqueues no second job while the first is queued or kept."""
    where = hashlib.sha256(os.path.abspath(dest).encode()).hexdigest()[:12]
    return f"visiono:archive:{where}:{photo_request_id}"


async def enqueue_archive(
    pool: ArqRedis, photo_request_id: str, dest: str | os.PathLike[str], **options: Any
) -> Job | None:
    """Queue "archive this photo request into ``dest``".

    Args:
        pool: An arq pool (``await arq.create_pool(RedisSettings.from_dsn(url))``).
        photo_request_id: The photo request to archive.
        dest: The destination folder, as the workers see it.
        **options: Keyword options of :meth:`VisionoClient.archive` (JSON-able values:
            ``variant``, ``template``, ``sidecar``, ``concurrency``, ...).

    Returns:
        The job, or None when the same archive is already queued, running or done within
        arq's ``keep_result`` time.
    """
    folder = os.fspath(dest)
    return await pool.enqueue_job(
        ARCHIVE_JOB,
        photo_request_id,
        folder,
        dict(options),
        _job_id=archive_job_id(photo_request_id, folder),
    )


def archive_on_submitted(
    pool: ArqRedis | Callable[[], ArqRedis],
    dest: str | os.PathLike[str],
    **options: Any,
) -> Callable[[WebhookEvent], Awaitable[None]]:
    """A :class:`~visiono_async.webhooks.WebhookReceiver` handler that queues an archive
    job for every ``photo_request.submitted`` event (other events are ignored).

    Args:
        pool: The arq pool, or a function returning it (for a pool made at start-up).
        dest: The destination folder, as the workers see it.
        **options: Passed to :func:`enqueue_archive`.
    """

    async def handle(event: WebhookEvent) -> None:
        if isinstance(event, PhotoRequestSubmitted):
            target = pool() if callable(pool) else pool
            await enqueue_archive(target, event.photo_request_id, dest, **options)

    return handle


async def archive_job(
    ctx: dict[str, Any], photo_request_id: str, dest: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The worker side: archive one photo request with the worker's client.

    Runs with ``shared_dest=True``, so any number of workers may archive into ``dest`` at
    once. Files that failed make arq run the job again later (``Retry``), up to its
    ``max_tries``; what is already archived is skipped then.

    Returns:
        A summary kept as the job's result: downloaded, skipped, failed, bytes.
    """
    client: VisionoClient = ctx[_CLIENT]
    report = await client.archive(
        dest, photo_requests=[photo_request_id], shared_dest=True, **options
    )
    summary = {
        "photo_request_id": photo_request_id,
        "downloaded": report.downloaded,
        "skipped": report.skipped,
        "failed": len(report.failed),
        "bytes": report.bytes,
    }
    if report.failed:
        raise Retry(defer=5 * int(ctx.get("job_try", 1)))
    return summary


def worker_settings(
    redis_url: str,
    *,
    rate_limit: RateLimit | None = None,
    job_timeout: float = 3600.0,
    lease_grace: float = 10.0,
    max_jobs: int = 4,
    queue_name: str = "arq:queue",
    **client_options: Any,
) -> dict[str, Any]:
    """The settings of a worker that runs archive jobs, for :func:`run_worker`.

    Args:
        redis_url: The Redis of the queue, and by default of the shared rate-limit budget.
        rate_limit: The client's rate limit; by default Visiono's limits shared in
            ``redis_url`` (``RateLimit(redis_url=redis_url)``).
        job_timeout: Seconds one archive job may run.
        lease_grace: A job whose worker died is run again ``job_timeout + lease_grace``
            seconds after it started.
        max_jobs: Jobs one worker runs at once.
        queue_name: The arq queue.
        **client_options: Passed to ``VisionoClient`` (``api_key``, ``base_url``, ...).

    Returns:
        Keyword arguments of ``arq.worker.Worker`` (plus ``lease_grace``).
    """
    limits = rate_limit if rate_limit is not None else RateLimit(redis_url=redis_url)

    async def startup(ctx: dict[str, Any]) -> None:
        client = VisionoClient(rate_limit=limits, **client_options)
        await client.__aenter__()
        ctx[_CLIENT] = client

    async def shutdown(ctx: dict[str, Any]) -> None:
        client = ctx.pop(_CLIENT, None)
        if client is not None:
            await client.aclose()

    return {
        "functions": [func(archive_job, name=ARCHIVE_JOB)],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_timeout": job_timeout,
        "max_jobs": max_jobs,
        "queue_name": queue_name,
        "lease_grace": lease_grace,
    }


def run_worker(settings: Mapping[str, Any], **overrides: Any) -> None:
    """Run an arq worker with ``settings`` (from :func:`worker_settings`) until SIGINT or
    SIGTERM; blocks. ``overrides`` are further ``Worker`` options (``burst=True``, ...)."""
    options = {**settings, **overrides}
    grace = float(options.pop("lease_grace", 10.0))
    worker = Worker(**options)
    # arq keeps a job's in-progress mark for job_timeout + 10 s; lease_grace sets the 10.
    worker.in_progress_timeout_s = worker.job_timeout_s + grace
    worker.run()
