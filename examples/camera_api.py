"""Archive snapshots from an on-demand camera API: images that are not there yet.

``POST /api/devices/{id}/capture`` takes a picture and answers its link at once, but the
image answers 404 until the camera has uploaded it (``available_in`` seconds, about 20 on
real devices), and the link is valid 30 minutes. The source says when each file becomes
available (``RemoteFile.available_at``), how long a 404 may still mean "not yet"
(``availability_timeout``), and that a refresh is expensive (each one is a new capture), so
the pipeline waits and retries instead of failing, and never captures twice in vain.

    python examples/camera_api.py API_URL DEST DEVICE [DEVICE ...]
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import time

import aiohttp
import anyio

from visiono_async.download import RemoteFile, SignedURLSource, archive, read_manifest


async def main(api: str, dest: str, devices: list[str]) -> int:
    async with aiohttp.ClientSession() as http:

        async def capture(device: str) -> list[RemoteFile]:
            """One new picture of ``device``: its link, when it is ready, when it expires."""
            async with http.post(f"{api}/api/devices/{device}/capture") as resp:
                resp.raise_for_status()
                shot = await resp.json()
            now = dt.datetime.now(dt.timezone.utc)
            return [
                RemoteFile(
                    id=device,
                    url=shot["image_url"],
                    available_at=now + dt.timedelta(seconds=float(shot["available_in"])),
                    expires_at=time.time() + float(shot["expires_in"]),
                )
            ]

        source = SignedURLSource.from_refreshers(
            {device: functools.partial(capture, device) for device in devices},
            availability_timeout=60.0,
            refresh_expensive=True,
        )
        report = await archive(None, dest, source=source, template="{id}{ext}", backoff=0.1)
    print(report.summary())
    for entry in await read_manifest(dest):
        print(f"{entry.path}: {entry.mime_type}, {entry.bytes} bytes")
    return 0 if report.ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: python examples/camera_api.py API_URL DEST DEVICE [DEVICE ...]")
    sys.exit(anyio.run(main, sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:]))
