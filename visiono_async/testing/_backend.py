"""Everything one emulator holds, shared by its routes through the aiohttp app."""

from __future__ import annotations

from aiohttp import web

from ._clock import EmulatorClock
from ._faults import FaultInjector
from ._http import DeleteAnswer, Pagination
from ._idempotency import IdempotencyStore
from ._ids import new_id
from ._ratelimit import RateLimiter
from ._recording import RecordedRequest
from ._serialize import Serializer
from ._storage import MemoryStorage, PhotoStorage
from ._store import Store
from ._webhooks import TIMEOUT as WEBHOOK_TIMEOUT
from ._webhooks import WebhookDispatcher

__all__ = ["BACKEND", "Backend"]


class Backend:
    """The emulator's state and configuration, independent of the HTTP server."""

    def __init__(
        self,
        *,
        rate_limit_per_minute: int,
        rate_limit_per_hour: int,
        url_ttl: float,
        rate_limit_window_scale: float = 1.0,
        storage: PhotoStorage | None,
        webhook_time_factor: float,
        webhook_timeout: float = WEBHOOK_TIMEOUT,
        allow_http_webhooks: bool,
        clock: EmulatorClock | None = None,
        delete_answer: DeleteAnswer = "object",
        pagination: Pagination = "meta",
        honor_idempotency_keys: bool = True,
    ) -> None:
        if url_ttl <= 0:
            raise ValueError(f"url_ttl must be positive, got {url_ttl}")
        if webhook_time_factor <= 0:
            raise ValueError(f"webhook_time_factor must be positive, got {webhook_time_factor}")
        if webhook_timeout <= 0:
            raise ValueError(f"webhook_timeout must be positive, got {webhook_timeout}")
        self.root_url = ""
        self.clock = EmulatorClock() if clock is None else clock
        self.serializer = Serializer(lambda: self.root_url)
        self.memory_storage = (
            MemoryStorage(self.clock, lambda: self.root_url) if storage is None else None
        )
        self.storage: PhotoStorage = storage if storage is not None else self.memory_storage  # type: ignore[assignment]
        self.store = Store(self.clock, self.serializer, self.storage)
        self.rate_limiter = RateLimiter(
            rate_limit_per_minute, rate_limit_per_hour, rate_limit_window_scale
        )
        self.idempotency = IdempotencyStore(self.clock)
        self.faults = FaultInjector()
        self.requests: list[RecordedRequest] = []
        self.url_ttl = url_ttl
        self.webhook_time_factor = webhook_time_factor
        self.allow_http_webhooks = allow_http_webhooks
        self.delete_answer: DeleteAnswer = delete_answer
        self.pagination: Pagination = pagination
        self.honor_idempotency_keys = honor_idempotency_keys
        self.tenant_id = new_id("tn")
        self.webhooks = WebhookDispatcher(
            self.store, self.clock, self.tenant_id, webhook_time_factor, webhook_timeout
        )
        self.store.event_sink = self.webhooks.emit
        self.clock.on_change(self.store.expire_due)


BACKEND = web.AppKey("visiono_backend", Backend)
