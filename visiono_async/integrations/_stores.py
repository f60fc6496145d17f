"""A nudge towards a shared event store where one is needed: several worker processes."""

from __future__ import annotations

import logging
import os

from ..webhooks import MemoryEventStore, WebhookReceiver

__all__ = ["check_store_is_shared"]

logger = logging.getLogger("visiono_async")


def check_store_is_shared(receiver: WebhookReceiver) -> None:
    """Warn when a per-process store meets signs of several worker processes.

    ``MemoryEventStore`` de-duplicates within one process: with ``uvicorn --workers 2`` (or
    gunicorn, or replicas) one delivery reaching two workers runs its handler twice.
    ``WEB_CONCURRENCY`` (read by uvicorn and gunicorn as the worker count) above 1 is such a
    sign; elsewhere the warning stays in the documentation.
    """
    if not isinstance(receiver.store, MemoryEventStore):
        return
    try:
        workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
    except ValueError:
        return
    if workers > 1:
        logger.warning(
            "the webhook receiver uses MemoryEventStore, which is per process, with "
            "WEB_CONCURRENCY=%d workers: a delivery can run its handler once per worker; "
            "pass store=SQLiteEventStore(path) (one host) or RedisEventStore(url) (any number)",
            workers,
        )
