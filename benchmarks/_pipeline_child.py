"""One pipeline run in a process of its own: ``archive()`` against the benchmark's emulator.

Prints one JSON line: ``elapsed`` (client creation to report, timed here, imports excluded),
``downloaded``, ``bytes``, ``api_calls``, ``failed`` and the peak RSS (``max_rss_mib``, see
:func:`peak_rss_mib`).

    python _pipeline_child.py JOB.json DEST [--profile OUT.prof | --pyinstrument OUT.txt]

``JOB.json`` holds ``base_url``, ``api_key``, ``request_ids`` and ``concurrency``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import anyio  # noqa: E402

from visiono_async import VisionoClient  # noqa: E402
from visiono_async.download import archive  # noqa: E402

# Run the way the `visiono` CLI runs: on uvloop when it is installed.
LOOP = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}


async def run(job: dict[str, Any], dest: Path, options: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    async with VisionoClient(
        api_key=job["api_key"], base_url=job["base_url"], rate_limit=None
    ) as client:
        report = await archive(
            client,
            dest,
            photo_requests=job["request_ids"],
            concurrency=job["concurrency"],
            **options,
        )
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "downloaded": report.downloaded,
        "skipped": report.skipped,
        "bytes": report.bytes,
        "api_calls": report.api_calls,
        "failed": len(report.failed),
        "failures": sorted({f.reason for f in report.failed}),
        "report_elapsed": report.elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("job")
    parser.add_argument("dest")
    parser.add_argument("--profile", help="write a cProfile (event-loop thread CPU) here")
    parser.add_argument("--pyinstrument", help="write a pyinstrument (sampling) report here")
    parser.add_argument("--chunk-size", type=int)
    args = parser.parse_args()
    job = json.loads(Path(args.job).read_text())
    options: dict[str, Any] = {}
    if args.chunk_size:
        options["chunk_size"] = args.chunk_size
    if args.pyinstrument:
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0005, async_mode="disabled")
        sampler.start()
        result = anyio.run(run, job, Path(args.dest), options, backend_options=LOOP)
        sampler.stop()
        Path(args.pyinstrument).write_text(
            sampler.output_text(unicode=True, color=False, show_all=False)
        )
    elif args.profile:
        import cProfile

        # CPU time of the event-loop thread: what other processes on a busy machine do (or
        # the worker threads writing files) does not show up as time spent in a syscall.
        profiler = cProfile.Profile(time.thread_time)
        result = profiler.runcall(
            anyio.run, run, job, Path(args.dest), options, backend_options=LOOP
        )
        profiler.dump_stats(args.profile)
    else:
        result = anyio.run(run, job, Path(args.dest), options, backend_options=LOOP)
    result["max_rss_mib"] = peak_rss_mib()
    result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def peak_rss_mib() -> float:
    """This process's peak RSS.

    On Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` keeps the high-water mark of the address
    space the process had *before* ``execve``: Python's subprocess starts children with
    vfork, so that is the parent's peak (the benchmark parent holds the emulator and, for the
    1 GiB scenario, the photo itself). ``VmHWM`` in ``/proc/self/status`` belongs to the
    current address space only, so it is what the pipeline itself used.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
