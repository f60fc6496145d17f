"""Several processes on one API key: the per-process pacer vs the budget shared in Redis.

Issue 14 measured, for 3 processes x 35 calls at Visiono's 60/min, 17 answers 429 and 28 of
105 calls (27%) raising ``RateLimitError`` with per-process pacing. This runs that case (or
any other) against the emulator with its real limits on, once per mode, and prints both side
by side: calls, successes, ``RateLimitError`` (never sent / refused), the 429 answers the
server gave, and the time from the first call the server saw to the last.

    python benchmarks/bench_ratelimit.py                  # ~2.5 min: full size, 60 s windows
    python benchmarks/bench_ratelimit.py --scale 0.05     # the same in 3 s windows
    python benchmarks/bench_ratelimit.py --processes 3 --calls 100

Needs redis-server. Exits non-zero when the shared budget got a 429 or a RateLimitError.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visiono_async.testing import VisionoEmulator  # noqa: E402

CHILD = str(Path(__file__).with_name("_ratelimit_child.py"))


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    path = os.path.join(workdir, "redis.sock")
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", path, "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if time.monotonic() > deadline or process.poll() is not None:
            sys.exit("redis-server did not start")
        time.sleep(0.01)
    return process, f"unix://{path}"


async def run_mode(
    redis_url: str | None, *, processes: int, calls: int, scale: float, sdk: Path = ROOT
) -> dict[str, Any]:
    async with VisionoEmulator(
        rate_limit_per_minute=60, rate_limit_per_hour=1000, rate_limit_window_scale=scale
    ) as emu:
        env = {
            **os.environ,
            "PYTHONPATH": str(sdk),
            "VISIONO_BASE_URL": emu.base_url,
            "VISIONO_API_KEY": emu.create_api_key(),
        }
        args = [sys.executable, CHILD, str(calls), redis_url or "-", str(scale)]
        children = [
            await anyio.open_process(args, env=env, stderr=subprocess.DEVNULL)
            for _ in range(processes)
        ]
        results = []
        for child in children:
            assert child.stdout is not None
            out = b"".join([chunk async for chunk in child.stdout])
            await child.wait()
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        records = [r for r in emu.requests if r.api and r.path == "/status"]
    times = sorted(r.time for r in records)
    total: dict[str, int] = {}
    for result in results:
        for name, count in result["outcomes"].items():
            total[name] = total.get(name, 0) + count
    return {
        "outcomes": total,
        "answers_429": sum(1 for r in records if r.status == 429),
        "sent": len(records),
        "span": times[-1] - times[0] if times else 0.0,
        "longest_call": max(r["longest_call"] for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--calls", type=int, default=35, help="concurrent calls per process")
    parser.add_argument("--scale", type=float, default=1.0, help="window length factor")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="CHECKOUT",
        help="also run the per-process pacer of another checkout (an older release)",
    )
    args = parser.parse_args()
    calls = args.processes * args.calls
    window = 60 * args.scale
    floor = (math.ceil(calls / 60) - 1) * window
    with tempfile.TemporaryDirectory() as workdir:
        redis, url = start_redis(workdir)
        try:
            rows = {}
            modes: list[tuple[str, str | None, Path]] = [
                ("per-process pacer", None, ROOT),
                ("shared budget (Redis)", url, ROOT),
            ]
            if args.before is not None:
                modes.insert(0, ("per-process, --before", None, args.before.resolve()))
            for name, redis_url, sdk in modes:
                print(f"running: {name} ...", flush=True)
                rows[name] = anyio.run(
                    lambda u=redis_url, p=sdk: run_mode(
                        u, processes=args.processes, calls=args.calls, scale=args.scale, sdk=p
                    )
                )
        finally:
            redis.terminate()
            redis.wait()
    print(
        f"\n{args.processes} processes x {args.calls} calls, one key, 60 calls per "
        f"{window:g} s window (the fewest windows allow the last call at {floor:.1f} s)\n"
    )
    header = f"{'':24}{'ok':>6}{'RateLimitError':>16}{'never sent':>12}{'429s':>6}{'sent':>6}{'span s':>9}"
    print(header)
    for name, row in rows.items():
        o = row["outcomes"]
        errors = o.get("RateLimitError", 0)
        print(
            f"{name:24}{o.get('ok', 0):>6}{f'{errors} ({100 * errors / calls:.0f}%)':>16}"
            f"{o.get('never_sent', 0):>12}{row['answers_429']:>6}{row['sent']:>6}{row['span']:>9.1f}"
        )
    shared = rows["shared budget (Redis)"]
    ok = shared["answers_429"] == 0 and shared["outcomes"].get("RateLimitError", 0) == 0
    print("\nshared budget: " + ("PASS (no 429, no RateLimitError)" if ok else "MISS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
