"""Memory: peak RSS of the pipeline archiving 20,000 files, and one 1 GiB file vs one 1 MiB file.

Every scenario runs ``archive()`` in a fresh child process (``_pipeline_child.py``) against
the emulator with nginx storage; the child reports its own peak RSS, so the emulator and
nginx, which live in other processes, are not counted. The child reads ``VmHWM`` from
``/proc/self/status`` rather than trusting ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries
``ru_maxrss`` over ``execve``, and as Python spawns children with vfork that figure is the
*parent's* peak (hundreds of MiB here: the emulator holds every photo). Both are printed.

Targets (issue 3): under 100 MiB for 20,000 files, and a 1 GiB file costing no more memory
than a 1 MiB one. The raw differences are printed; the verdict allows the few MiB of read
buffers a 1 MiB body never fills (8 MiB) and checks that a 1 GiB file costs no more than a
128 MiB one (2 MiB of allocator noise): memory per transfer is bounded by the buffer sizes,
not by the file size.

    python benchmarks/bench_memory.py [--files 20000] [--size 30720] [--big 1073741824]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import anyio
from _harness import HERE, KIB, MIB, Dataset, count_files, fresh_dir, machine, scratch_dir
from _origin import Origin

# A 1 MiB body fits in aiohttp's read buffer and one write; a big one keeps the buffers full:
# the StreamReader up to its high-water mark (2 x read_bufsize), the chunks gathered for the
# next write (chunk_size) and the chunks being written. A few MiB, whatever the file size.
ALLOWANCE_MIB = 8.0
# Between two big files, only allocator noise is allowed: memory must not grow with size.
NOISE_MIB = 2.0


async def archive_in_child(
    origin: Origin, request_ids: list[str], work: Path, concurrency: int
) -> dict[str, float]:
    spec = work / "memory-job.json"
    spec.write_text(
        json.dumps(
            {
                "base_url": origin.base_url,
                "api_key": origin.api_key,
                "request_ids": request_ids,
                "concurrency": concurrency,
            }
        )
    )
    dest = fresh_dir(work, "dest")
    out = await anyio.run_process(
        [sys.executable, str(HERE / "_pipeline_child.py"), str(spec), str(dest)], check=True
    )
    result: dict[str, float] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    files, _ = count_files(dest)
    result["files_on_disk"] = files
    shutil.rmtree(dest, ignore_errors=True)
    return result


async def scenario(
    name: str, dataset: Dataset, args: argparse.Namespace, per_request: int
) -> dict[str, float]:
    scratch = scratch_dir()
    try:
        async with Origin() as origin:
            print(f"  seeding {dataset.name} ...", file=sys.stderr, flush=True)
            seeded = await origin.seed(dataset, per_request=per_request)
            print(f"  archiving {dataset.name} ...", file=sys.stderr, flush=True)
            result = await archive_in_child(origin, seeded.request_ids, scratch, args.concurrency)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result["downloaded"] != dataset.count or result["failed"]:
        raise SystemExit(f"{name}: the pipeline did not archive everything: {result}")
    print(
        f"  {name:<22}{result['max_rss_mib']:>10.1f} MiB   {result['elapsed']:7.2f} s   "
        f"{result['downloaded']} files, {result['bytes'] / MIB:.0f} MiB, "
        f"{result['api_calls']} API calls   (ru_maxrss {result['ru_maxrss_mib']:.0f} MiB)"
    )
    return result


async def main(args: argparse.Namespace) -> int:
    print(
        f"bench_memory: peak RSS of the pipeline process, concurrency {args.concurrency}; "
        f"{machine()}"
    )
    print(f"  {'scenario':<22}{'peak RSS':>14}   {'time':>7}")
    ok = True
    if not args.skip_many:
        many = Dataset(f"{args.files} x {args.size / KIB:.0f} KiB", args.files, args.size)
        result = await scenario(many.name, many, args, per_request=20)
        passed = result["max_rss_mib"] < 100
        ok &= passed
        print(
            f"  -> {args.files} files: {result['max_rss_mib']:.1f} MiB, target < 100 MiB   "
            f"{'PASS' if passed else 'MISS'}"
        )
    sizes = [MIB, args.big // 8, args.big]
    peaks = []
    for size in sizes:
        name = f"1 x {size / MIB:.0f} MiB"
        peaks.append(
            (await scenario(name, Dataset(name, 1, size), args, per_request=1))["max_rss_mib"]
        )
    small, middle, big = peaks
    difference, growth = big - small, big - middle
    passed = difference <= ALLOWANCE_MIB and growth <= NOISE_MIB
    ok &= passed
    print(
        f"  -> {sizes[2] / MIB:.0f} MiB file vs 1 MiB file: {difference:+.1f} MiB "
        f"(allowance {ALLOWANCE_MIB:.0f} MiB: the read buffers a 1 MiB file never fills); "
        f"vs {sizes[1] / MIB:.0f} MiB file: {growth:+.1f} MiB (growth with size, allowance "
        f"{NOISE_MIB:.0f} MiB)   {'PASS' if passed else 'MISS'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=30 * KIB, help="bytes per file")
    parser.add_argument("--big", type=int, default=1 << 30, help="bytes of the big file")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-many", action="store_true", help="only the big/small pair")
    sys.exit(anyio.run(main, parser.parse_args()))
