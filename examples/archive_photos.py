"""Archive every photo of a few photo requests to a folder, then run it again.

Runs against a local emulator, so it needs no API key::

    python examples/archive_photos.py [DEST]

Against the real API, drop the emulator and use ``VisionoClient()`` with
``$VISIONO_API_KEY`` set.
"""

from __future__ import annotations

import sys
import tempfile

import anyio

from visiono_async import Selection, VisionoClient
from visiono_async.download import ProgressEvent
from visiono_async.testing import VisionoEmulator, sample_jpeg


async def main(dest: str) -> int:
    async with VisionoEmulator() as emu:
        key = emu.create_api_key()
        async with VisionoClient(api_key=key, base_url=emu.base_url) as client:
            ids = []
            for n, ticket in enumerate(["WR-1001", "WR-1002", "WR-1003"]):
                pr = await client.photo_requests.create(
                    instructions="Show us the damaged product",
                    items=[{"instructions": "Overview"}, {"instructions": "Close-up"}],
                    metadata={"ticket_id": ticket},
                )
                for i, item in enumerate(pr.items):
                    photo = sample_jpeg(200_000, seed=10 * n + i)
                    await emu.simulate_submission(pr.id, item.id, content=photo, gps=(45.46, 9.19))
                ids.append(pr.id)

            def show(event: ProgressEvent) -> None:
                if event.kind == "file_done":
                    print(f"  archived {event.path}")

            # One selection for both runs (``photo_requests=ids`` is its shorthand).
            chosen = Selection(photo_requests=ids)
            report = await client.archive(
                dest, chosen, concurrency=8, sidecar=True, on_progress=show
            )
            print(report.summary())

            again = await client.archive(dest, chosen)
            print(f"second run: {again.downloaded} downloaded, {again.skipped} skipped")
            return 0 if report.ok and again.downloaded == 0 else 1


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="visiono-archive-")
    sys.exit(anyio.run(main, target))
