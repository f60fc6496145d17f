"""The reference loop: aiohttp + aiofiles, no verification, no temp files, no manifest.

Run by the benchmarks in a process of its own; it times itself (imports excluded) and prints
``{"elapsed": seconds, "files": n, "bytes": n}`` as JSON.

    python _plain_aiohttp.py JOBS.json DEST CONCURRENCY [CA.pem]

``JOBS.json`` is a list of ``[url, relative name]`` pairs; ``CA.pem``, for an HTTPS origin,
is the CA to trust (instead of the system's).
"""

from __future__ import annotations

import json
import ssl
import sys
import time
from pathlib import Path

import aiofiles
import aiohttp
import anyio

CHUNK = 1 << 20


async def main(
    jobs: list[tuple[str, str]], dest: Path, concurrency: int, cafile: str | None = None
) -> dict[str, float]:
    started = time.perf_counter()
    todo = list(reversed(jobs))
    total = 0
    # aiohttp's default for https is ssl.create_default_context() (the system's CAs).
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=cafile) if cafile else True
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=tls)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def worker() -> None:
            nonlocal total
            while todo:
                url, name = todo.pop()
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    async with aiofiles.open(dest / name, "wb") as f:
                        async for chunk in resp.content.iter_chunked(CHUNK):
                            await f.write(chunk)
                            total += len(chunk)

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
    return {"elapsed": time.perf_counter() - started, "files": len(jobs), "bytes": total}


if __name__ == "__main__":
    jobs_file, dest_dir, limit = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    pairs = [(url, name) for url, name in json.loads(Path(jobs_file).read_text())]
    print(json.dumps(anyio.run(main, pairs, dest_dir, limit, ca)))
