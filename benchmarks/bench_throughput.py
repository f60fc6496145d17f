"""Throughput: the archive pipeline against curl, aria2c and a plain aiohttp loop.

Two datasets, 200 x 2 MiB and 2000 x 30 KiB, served by a real nginx on loopback (the
emulator's NginxStorage, secure_link signed URLs) and fetched at concurrency 16 by:

* ``curl --parallel --parallel-max 16`` with a config file of ``url``/``output`` pairs,
* ``aria2c -j 16 -x 1 -i list``,
* a plain aiohttp + aiofiles loop (no verification, no temp files), timed in its process,
* the pipeline, ``archive()`` through the emulator, timed in its process: the whole job,
  ``download-urls`` calls, verification, hashing, manifest and renames included,
* with ``--floor``, the floor of any Python client: blocking sockets in 16 threads, bytes
  to files and nothing else, once without and once with SHA-256 (``_blocking_threads.py``).

Each tool runs in its own process into an empty directory after ``os.sync()``; one warm-up
round, then N rounds (``--repeats``) in a random order per round; the median is reported with
the ratios and the targets of issue 3 (large <= 1.1x curl, small <= 2x curl, faster than
aria2c on both).

``--https`` serves the photos over HTTPS instead (nginx with a certificate from a trustme CA
made at start, HTTP/1.1; the emulator's API stays plain HTTP). Every tool trusts that CA:
curl ``--cacert``, aria2c ``--ca-certificate``, plain aiohttp an SSL context loading it and
the pipeline ``SSL_CERT_FILE``.

``--latency S`` makes nginx hold every storage response back S seconds (``echo_sleep``, as
in ``bench_latency.py``): far-away storage, where the pipeline mostly waits and its CPU per
file matters less. The targets are the loopback ones and are not judged with it.

    python benchmarks/bench_throughput.py [--repeats 3] [--only large|small] [--peers-only]
        [--https] [--floor] [--latency 0.02] [--before CHECKOUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import pstats
import random
import shutil
import sys
from pathlib import Path

import anyio
from _harness import (
    KIB,
    MIB,
    TLS,
    Dataset,
    aria2c_tool,
    blocking_tool,
    curl_tool,
    fresh_dir,
    machine,
    make_tls,
    measure,
    median,
    pipeline_tool,
    plain_tool,
    print_ratio,
    print_times,
    scratch_dir,
)
from _origin import Origin, Seeded

DATASETS = {
    "large": (Dataset("200 x 2 MiB", 200, 2 * MIB), 1.1),
    "small": (Dataset("2000 x 30 KiB", 2000, 30 * KIB), 2.0),
}


def print_profile(path: Path, top: int = 25) -> None:
    for order in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(str(path), stream=buffer)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        text = buffer.getvalue()
        body = text[text.index("   ncalls") :] if "   ncalls" in text else text
        print(f"  -- top {top} by {order} --")
        print("\n".join("  " + line for line in body.rstrip().splitlines()))


async def profile_pipeline(
    origin: Origin,
    seeded: Seeded,
    args: argparse.Namespace,
    scratch: Path,
    count: int,
    tls: TLS | None = None,
) -> None:
    """One more pipeline run under a profiler: pyinstrument when installed, else cProfile."""
    sampling = importlib.util.find_spec("pyinstrument") is not None
    out = Path(args.profile).with_suffix(f".{count}{'.txt' if sampling else '.prof'}")
    profiled = pipeline_tool(
        base_url=origin.base_url,
        api_key=origin.api_key,
        request_ids=seeded.request_ids,
        concurrency=args.concurrency,
        work=scratch,
        name="pipeline-profiled",
        profile=out,
        cacert=tls.ca_pem if tls else None,
    )
    dest = fresh_dir(scratch, f"profiled-{count}")
    os.sync()
    result = await profiled.run(dest)
    tool = "pyinstrument" if sampling else "cProfile (event-loop thread CPU)"
    print(f"\n  {tool}: one more pipeline run, {result.elapsed:.3f} s under the profiler, in {out}")
    if sampling:
        print("\n".join("  " + line for line in out.read_text().splitlines()))
    else:
        print_profile(out)


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    scratch = scratch_dir(args.scratch)
    chosen = [DATASETS[args.only]] if args.only else list(DATASETS.values())
    print(
        f"bench_throughput: concurrency {args.concurrency}, {args.repeats} runs + 1 warm-up, "
        f"median; {machine()}"
    )
    tls = make_tls(scratch / "tls") if args.https else None
    cacert = tls.ca_pem if tls else None
    if tls is not None:
        print(
            "origin: HTTPS (nginx TLS, HTTP/1.1, certificate from a trustme CA made for this "
            "run; storage only, the emulator's API stays HTTP)"
        )
    over = " over HTTPS" if tls else ""
    if args.latency:
        over += f", {args.latency * 1000:.0f} ms added per response (targets not judged)"
    missed = 0
    try:
        async with Origin(
            pipeline=not args.peers_only,
            workers=args.nginx_workers,
            tls=tls,
            response_delay=args.latency,
        ) as origin:
            for dataset, small_target in chosen:
                seeded = await origin.seed(dataset, per_request=args.per_request)
                if tls is not None:
                    assert all(url.startswith("https://") for url, _ in seeded.jobs)
                tools = [
                    curl_tool(seeded.jobs, args.concurrency, scratch, cacert),
                    aria2c_tool(seeded.jobs, args.concurrency, scratch, cacert),
                    plain_tool(seeded.jobs, args.concurrency, scratch, cacert),
                ]
                if args.floor:
                    tools += [
                        blocking_tool(seeded.jobs, args.concurrency, scratch, cacert, sha256=s)
                        for s in (False, True)
                    ]
                if not args.peers_only:
                    pipelines: dict[str, Path | None] = {"pipeline": None}
                    if args.before is not None:
                        pipelines["pipeline before"] = args.before
                    tools += [
                        pipeline_tool(
                            base_url=origin.base_url,
                            api_key=origin.api_key,
                            request_ids=seeded.request_ids,
                            concurrency=args.concurrency,
                            work=scratch,
                            name=name,
                            cacert=cacert,
                            checkout=checkout,
                        )
                        for name, checkout in pipelines.items()
                    ]
                results = await measure(
                    tools,
                    scratch=scratch,
                    expect_files=dataset.count,
                    expect_size=dataset.size,
                    repeats=args.repeats,
                    rng=rng,
                    label=f"[{dataset.name}] ",
                    keep_runs=dataset.size < MIB,
                )
                print_times(
                    f"{dataset.name} ({dataset.total / MIB:.0f} MiB){over}, "
                    f"concurrency {args.concurrency}",
                    results,
                    dataset.total,
                )
                curl, aria2c = median(results["curl"]), median(results["aria2c"])
                print("  ratios (median / median):")
                if not args.peers_only:
                    pipe = median(results["pipeline"])
                    targets = (None, None) if args.latency else (small_target, 1.0)
                    missed += not print_ratio("pipeline / curl", pipe / curl, targets[0])
                    missed += not print_ratio(
                        "pipeline / aria2c", pipe / aria2c, targets[1], strict=True
                    )
                    if args.before is not None:
                        before = median(results["pipeline before"])
                        print_ratio("pipeline / pipeline before", pipe / before, None)
                    calls = sorted({r.extra.get("api_calls") for r in results["pipeline"]})
                    print(
                        f"  pipeline API calls per run: {calls} "
                        f"(photo requests: {len(seeded.request_ids)})"
                    )
                print_ratio("plain aiohttp / curl", median(results["plain aiohttp"]) / curl, None)
                print_ratio("aria2c / curl", aria2c / curl, None)
                if args.profile and not args.peers_only:
                    await profile_pipeline(origin, seeded, args, scratch, dataset.count, tls)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tool (median)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", choices=sorted(DATASETS))
    parser.add_argument(
        "--per-request", type=int, default=20, help="photos per photo request in the emulator"
    )
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="seed of the random tool order")
    parser.add_argument(
        "--scratch",
        metavar="DIR",
        help="where the downloads go (default: the system temp dir; /dev/shm takes the disk out)",
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="after measuring, profile one more pipeline run per dataset (cProfile)",
    )
    parser.add_argument(
        "--peers-only",
        action="store_true",
        help="curl, aria2c and plain aiohttp only (no emulator, no pipeline)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the floor of a Python client: blocking sockets in threads, "
        "without and with SHA-256 (_blocking_threads.py)",
    )
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        type=Path,
        help="also run the pipeline of another checkout (e.g. `git worktree add` of an older "
        "commit), interleaved with this one's, and print their ratio",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds nginx holds back every storage response (far-away storage; "
        "targets are not judged)",
    )
    parser.add_argument(
        "--https",
        action="store_true",
        help="serve the photos over HTTPS (a throwaway trustme CA; every tool trusts it)",
    )
    sys.exit(anyio.run(main, parser.parse_args()))
