"""Shared pieces of the benchmarks: the origin, the tools, timing and the printed tables.

Every tool downloads into a fresh directory on the same filesystem, from the same nginx,
in a process of its own. Before each timed run the previous run's files are deleted and
``os.sync()`` flushes dirty pages, so no tool pays for another's writes.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from visiono_async.testing._nginx import NginxStorage  # noqa: E402

MIB = 1 << 20
KIB = 1 << 10


@dataclass(frozen=True)
class Dataset:
    """``count`` photos of ``size`` bytes each."""

    name: str
    count: int
    size: int

    @property
    def total(self) -> int:
        return self.count * self.size


@dataclass
class Result:
    """What one run of one tool did."""

    elapsed: float
    files: int
    bytes: int
    extra: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0  # user + system seconds of the tool's process


@dataclass(frozen=True)
class TLS:
    """PEM files for an HTTPS origin: a throwaway CA and a certificate it issued for loopback."""

    ca_pem: Path
    certfile: Path
    keyfile: Path


def make_tls(directory: Path) -> TLS:
    """A new trustme CA and its certificate for 127.0.0.1 / localhost, written to ``directory``.

    trustme is a dev dependency: imported here, so plain-HTTP runs do not need it.
    """
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    directory.mkdir(parents=True, exist_ok=True)
    tls = TLS(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(tls.ca_pem))
    leaf.cert_chain_pems[0].write_to_path(str(tls.certfile))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(tls.certfile), append=True)
    leaf.private_key_pem.write_to_path(str(tls.keyfile))
    return tls


def _env_trusting(cacert: Path | None) -> dict[str, str] | None:
    """The environment for a Python child that must trust ``cacert`` (None: inherit as is).

    ``ssl.create_default_context()`` loads OpenSSL's default verify paths, which
    ``SSL_CERT_FILE`` replaces.
    """
    if cacert is None:
        return None
    return {**os.environ, "SSL_CERT_FILE": str(cacert)}


@dataclass
class Tool:
    """A named way to download a job into a directory; returns its result."""

    name: str
    run: Callable[[Path], Awaitable[Result]]


def fresh_dir(parent: Path, name: str) -> Path:
    path = parent / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def count_files(dest: Path, size: int | None = None) -> tuple[int, int]:
    """Files (optionally only those of ``size`` bytes) and their bytes under ``dest``."""
    files = total = 0
    for dirpath, _dirs, names in os.walk(dest):
        for name in names:
            n = os.stat(os.path.join(dirpath, name)).st_size
            if size is None or n == size:
                files += 1
                total += n
    return files, total


# -- peers ----------------------------------------------------------------------------------


def curl_tool(
    jobs: Sequence[tuple[str, str]], concurrency: int, work: Path, cacert: Path | None = None
) -> Tool:
    """``curl --parallel --parallel-max N -K config``: one ``url``/``output`` pair per file.

    ``cacert``: the CA of an HTTPS origin (``--cacert``).
    """

    async def run(dest: Path) -> Result:
        config = work / "curl.conf"
        config.write_text(
            "".join(f'url = "{url}"\noutput = "{dest / name}"\n' for url, name in jobs)
        )
        command = [
            "curl", "--parallel", "--parallel-max", str(concurrency),
            "--silent", "--show-error", "--fail", "-K", str(config),
        ]  # fmt: skip
        if cacert is not None:
            command += ["--cacert", str(cacert)]
        started = time.perf_counter()
        await anyio.run_process(command, check=True)
        return Result(time.perf_counter() - started, len(jobs), 0)

    return Tool("curl", run)


def aria2c_tool(
    jobs: Sequence[tuple[str, str]], concurrency: int, work: Path, cacert: Path | None = None
) -> Tool:
    """``aria2c -j N -x 1 -i list``: one connection per download, N downloads at a time.

    ``cacert``: the CA of an HTTPS origin (``--ca-certificate``).
    """

    async def run(dest: Path) -> Result:
        listing = work / "aria2.list"
        listing.write_text("".join(f"{url}\n  out={name}\n" for url, name in jobs))
        command = [
            "aria2c", "-j", str(concurrency), "-x", "1", "-i", str(listing), "-d", str(dest),
            "--quiet", "--allow-overwrite=true", "--auto-file-renaming=false",
        ]  # fmt: skip
        if cacert is not None:
            command.append(f"--ca-certificate={cacert}")
        started = time.perf_counter()
        await anyio.run_process(command, check=True)
        return Result(time.perf_counter() - started, len(jobs), 0)

    return Tool("aria2c", run)


def plain_tool(
    jobs: Sequence[tuple[str, str]], concurrency: int, work: Path, cacert: Path | None = None
) -> Tool:
    """aiohttp + aiofiles, no verification or temp files; timed inside its own process.

    ``cacert``: the CA of an HTTPS origin, given to the child's SSL context.
    """
    jobs_file = work / "plain-jobs.json"
    jobs_file.write_text(json.dumps(list(jobs)))

    async def run(dest: Path) -> Result:
        command = [
            sys.executable, str(HERE / "_plain_aiohttp.py"),
            str(jobs_file), str(dest), str(concurrency),
        ]  # fmt: skip
        if cacert is not None:
            command.append(str(cacert))
        out = await anyio.run_process(command, check=True)
        data = json.loads(out.stdout)
        return Result(data["elapsed"], data["files"], data["bytes"])

    return Tool("plain aiohttp", run)


def blocking_tool(
    jobs: Sequence[tuple[str, str]],
    concurrency: int,
    work: Path,
    cacert: Path | None = None,
    *,
    sha256: bool,
) -> Tool:
    """Blocking sockets in ``concurrency`` threads (``_blocking_threads.py``): the floor.

    What a Python client pays for the bytes alone: no event loop, no verification, no
    temp files; with ``sha256`` every body is hashed, as the pipeline does.
    """
    jobs_file = work / "blocking-jobs.json"
    jobs_file.write_text(json.dumps(list(jobs)))

    async def run(dest: Path) -> Result:
        command = [
            sys.executable, str(HERE / "_blocking_threads.py"),
            str(jobs_file), str(dest), str(concurrency),
        ]  # fmt: skip
        if sha256:
            command.append("--sha256")
        if cacert is not None:
            command += ["--cafile", str(cacert)]
        out = await anyio.run_process(command, check=True)
        data = json.loads(out.stdout)
        return Result(data["elapsed"], data["files"], data["bytes"])

    return Tool("py threads+sha256" if sha256 else "py threads", run)


def pipeline_tool(
    *,
    base_url: str,
    api_key: str,
    request_ids: Sequence[str],
    concurrency: int,
    work: Path,
    name: str = "pipeline",
    profile: Path | None = None,
    cacert: Path | None = None,
    checkout: Path | None = None,
) -> Tool:
    """``visiono_async.download.archive`` through the emulator; timed inside its own process.

    The figure is the whole job: ``download-urls`` calls, verification, hashing, manifest
    and renames. ``cacert``: the CA of an HTTPS storage origin, trusted by the child through
    ``SSL_CERT_FILE`` (the pipeline's storage client uses ``ssl.create_default_context()``).
    ``checkout``: another checkout of the project (an older commit) whose own child and
    package run instead, for a before/after comparison in one run.
    """
    child = (checkout / "benchmarks" if checkout is not None else HERE) / "_pipeline_child.py"
    spec = work / f"{name}-job.json"
    spec.write_text(
        json.dumps(
            {
                "base_url": base_url,
                "api_key": api_key,
                "request_ids": list(request_ids),
                "concurrency": concurrency,
            }
        )
    )

    async def run(dest: Path) -> Result:
        # The child puts its own checkout first on sys.path, so it runs that package.
        command = [sys.executable, str(child), str(spec), str(dest)]
        if profile is not None:
            flag = "--pyinstrument" if profile.suffix == ".txt" else "--profile"
            command += [flag, str(profile)]
        out = await anyio.run_process(command, check=True, env=_env_trusting(cacert))
        data = json.loads(out.stdout.decode().strip().splitlines()[-1])
        return Result(data.pop("elapsed"), data.pop("downloaded"), data.pop("bytes"), data)

    return Tool(name, run)


# -- running --------------------------------------------------------------------------------


async def measure(
    tools: Sequence[Tool],
    *,
    scratch: Path,
    expect_files: int,
    expect_size: int | None,
    repeats: int,
    warmup: int = 1,
    rng: random.Random,
    label: str = "",
    keep_runs: bool = False,
) -> dict[str, list[Result]]:
    """Run every tool ``warmup + repeats`` times, in a random order per round.

    Each run gets an empty directory of its own under ``scratch`` and starts after
    ``os.sync()``. What happens to a run's files afterwards matters on a small VM, and the
    right answer depends on the dataset:

    * many small files (``keep_runs=True``): kept until the caller removes ``scratch``.
      ext4 without a journal (as on the machine of the README's numbers) skips inodes freed
      in the last 60 s when it allocates new ones, so after deleting 2000 files each file
      the next run creates scans past them (``recently_deleted`` tops ``perf``).
    * few large files (``keep_runs=False``): deleted right after the run. Keeping gigabytes
      makes every run write into memory the guest has not touched lately (reclaimed by the
      host), and page faults then dominate every tool's system time.

    A run that did not put every file on disk stops the benchmark: a fast wrong answer is
    no answer.
    """
    results: dict[str, list[Result]] = {t.name: [] for t in tools}
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=scratch))
    await _rounds(
        tools, results, runs, expect_files, expect_size, repeats, warmup, rng, label, keep_runs
    )
    return results


async def _rounds(
    tools: Sequence[Tool],
    results: dict[str, list[Result]],
    runs: Path,
    expect_files: int,
    expect_size: int | None,
    repeats: int,
    warmup: int,
    rng: random.Random,
    label: str,
    keep_runs: bool,
) -> None:
    for round_no in range(warmup + repeats):
        order = list(tools)
        rng.shuffle(order)
        timed = round_no >= warmup
        for tool in order:
            dest = fresh_dir(runs, f"{round_no}-{tool.name.replace(' ', '-')}")
            os.sync()
            before = _children_cpu()
            result = await tool.run(dest)
            result.cpu = _children_cpu() - before
            files, total = count_files(dest, expect_size)
            if files < expect_files:
                raise SystemExit(
                    f"{tool.name} left {files} of {expect_files} files in {dest}: {result}"
                )
            result.bytes = result.bytes or total
            if timed:
                results[tool.name].append(result)
            tag = "run" if timed else "warm-up"
            print(
                f"  {label}{tag} {round_no - warmup + 1 if timed else round_no + 1}: "
                f"{tool.name:<14} {result.elapsed:7.3f} s",
                file=sys.stderr,
                flush=True,
            )
            if not keep_runs:
                shutil.rmtree(dest, ignore_errors=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(results: Sequence[Result]) -> float:
    return statistics.median(r.elapsed for r in results)


def print_times(title: str, results: dict[str, list[Result]], total_bytes: int) -> None:
    print(f"\n{title}   (load average now {load()})")
    print(
        f"  {'tool':<16}{'median s':>10}{'min s':>9}{'max s':>9}{'MiB/s':>9}{'cpu s':>8}   runs (s)"
    )
    for name, runs in results.items():
        if not runs:
            continue
        times = [r.elapsed for r in runs]
        mid = statistics.median(times)
        cpu = statistics.median(r.cpu for r in runs)
        rate = total_bytes / MIB / mid if mid else float("inf")
        listing = " ".join(f"{t:.3f}" for t in times)
        print(
            f"  {name:<16}{mid:>10.3f}{min(times):>9.3f}{max(times):>9.3f}{rate:>9.0f}"
            f"{cpu:>8.2f}   {listing}"
        )


def print_ratio(label: str, value: float, target: float | None, *, strict: bool = False) -> bool:
    """Print one ratio with its target and PASS/MISS; return whether it passed."""
    if target is None:
        print(f"  {label:<28}{value:6.2f}x   (no target)")
        return True
    ok = value < target if strict else value <= target
    sign = "<" if strict else "<="
    print(f"  {label:<28}{value:6.2f}x   target {sign} {target:.2f}x   {'PASS' if ok else 'MISS'}")
    return ok


# -- the origin -----------------------------------------------------------------------------


def photo_bytes(size: int, seed: int) -> bytes:
    """JPEG-looking bytes of exactly ``size`` (the pipeline sniffs magic bytes)."""
    from visiono_async.testing._jpeg import sample_jpeg

    return sample_jpeg(size, seed=seed)


async def put_dataset(storage: NginxStorage, dataset: Dataset, prefix: str) -> list[str]:
    """Write the dataset straight into nginx's root; returns the keys."""
    keys = []
    for i in range(dataset.count):
        key = f"{prefix}/{i:06d}.jpg"
        await storage.put(key, photo_bytes(dataset.size, i), "image/jpeg")
        keys.append(key)
    return keys


def signed_jobs(
    storage: NginxStorage, keys: Sequence[str], ttl: float = 6 * 3600
) -> list[tuple[str, str]]:
    expires = time.time() + ttl
    return [(storage.signed_url(key, expires), key.replace("/", "_")) for key in keys]


def scratch_dir(parent: str | None = None) -> Path:
    """A working directory for the downloads (in ``parent``, else the system temp dir)."""
    return Path(tempfile.mkdtemp(prefix="visiono-bench-", dir=parent))


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform}, "
        f"load average {load()}"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
