"""One process of bench_ratelimit.py: CALLS concurrent calls on one key, outcomes as JSON.

``python _ratelimit_child.py CALLS REDIS_URL|- SCALE`` with ``VISIONO_BASE_URL`` and
``VISIONO_API_KEY`` set.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

import anyio

from visiono_async import RateLimit, RateLimitError, VisionoClient


async def main(calls: int, redis_url: str | None, scale: float) -> None:
    # Without redis_url unless shared: the script also runs an older checkout (--before).
    shared: dict[str, Any] = {"redis_url": redis_url} if redis_url else {}
    if scale == 1.0:
        limit = RateLimit(per_minute=60, per_hour=1000, **shared)
    else:
        windows = ((60, 60 * scale), (1000, 3600 * scale))
        limit = RateLimit(per_minute=None, per_hour=None, windows=windows, **shared)
    outcomes: Counter[str] = Counter()
    waited: list[float] = []
    async with VisionoClient(rate_limit=limit) as client:

        async def call() -> None:
            started = time.monotonic()
            try:
                await client.status()
                outcomes["ok"] += 1
            except RateLimitError as exc:
                outcomes["RateLimitError"] += 1
                outcomes["never_sent" if exc.code == "client_rate_limited" else "sent"] += 1
            except Exception as exc:
                outcomes[type(exc).__name__] += 1
            waited.append(time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(call)
    print(json.dumps({"outcomes": outcomes, "longest_call": max(waited, default=0.0)}))


if __name__ == "__main__":
    n, url, scale = sys.argv[1:4]
    anyio.run(main, int(n), None if url == "-" else url, float(scale))
