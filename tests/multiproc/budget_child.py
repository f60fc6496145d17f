"""A child process for the shared-budget tests: many concurrent calls on one key.

``python budget_child.py CALLS REDIS_URL WINDOW_CALLS WINDOW_SECONDS SHARE`` with
``VISIONO_BASE_URL`` and ``VISIONO_API_KEY`` set; prints ``ready``, starts its calls when a
line arrives on stdin, and prints one JSON line of outcomes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter

import anyio

from visiono_async import RateLimit, RateLimitError, RetryPolicy, VisionoClient, WaitNotice


async def main(calls: int, redis_url: str, window_calls: int, seconds: float, share: float) -> None:
    limit = RateLimit(
        per_minute=None,
        per_hour=None,
        windows=((window_calls, seconds),),
        redis_url=redis_url,
        fallback_share=share,
    )
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()

    def listen(notice: WaitNotice) -> None:
        reasons[notice.reason] += 1

    async with VisionoClient(rate_limit=limit, retry=RetryPolicy(max_retries=5)) as client:
        client.add_wait_listener(listen)
        # Every process queues its calls at the same moment: the test says when.
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

        async def call() -> None:
            try:
                await client.status()
                outcomes["ok"] += 1
            except RateLimitError:
                outcomes["rate_limit_error"] += 1
            except Exception as exc:
                outcomes[type(exc).__name__] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(call)
        print(
            json.dumps(
                {"outcomes": outcomes, "waits": reasons, "api_calls": client.session.api_calls}
            )
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    n, url, wc, ws, share = sys.argv[1:6]
    anyio.run(main, int(n), url, int(wc), float(ws), float(share))
