"""Archive files from any signed-URL provider with a custom source.

A source yields batches; a batch signs (and re-signs, when URLs expire) a group of files.
Here the "provider" is the emulator's storage: its URLs expire and carry signatures like
S3's. Swap ``sign_album`` for your provider's presigning call.

    python examples/custom_source.py [DEST]
"""

from __future__ import annotations

import sys
import tempfile
import time

import anyio

from visiono_async import VisionoClient
from visiono_async.download import RemoteFile, SignedURLSource, archive, read_manifest
from visiono_async.testing import VisionoEmulator, sample_jpeg


async def main(dest: str) -> int:
    async with VisionoEmulator() as emu:
        key = emu.create_api_key()
        async with VisionoClient(api_key=key, base_url=emu.base_url) as client:
            # Put a few files in the emulator's storage (any provider would do).
            pr = await client.photo_requests.create(
                instructions="Album", items=[{"instructions": f"photo {i}"} for i in range(4)]
            )
            for i, item in enumerate(pr.items):
                await emu.simulate_submission(pr.id, item.id, content=sample_jpeg(80_000, seed=i))

            async def sign_album() -> list[RemoteFile]:
                """Your provider's presigning call: fresh URLs for the whole album."""
                signed = await client.photo_requests.download_urls(pr.id)
                expires_at = time.time() + (signed.expires_in_seconds or 3600)
                return [
                    RemoteFile(
                        id=sub.id,
                        url=sub.download_url or "",
                        expires_at=expires_at,
                        mime_type=sub.mime_type,
                        fields={"album": "summer", "name": f"photo-{n:03d}"},
                    )
                    for n, sub in enumerate(signed.submissions)
                ]

            source = SignedURLSource.from_refreshers({"summer": sign_album})
            report = await archive(
                None, dest, source=source, template="{album}/{name}{ext}", concurrency=4
            )
            print(report.summary())
            for entry in await read_manifest(dest):
                print(f"  {entry.path}  {entry.bytes} bytes  sha256={entry.sha256[:12]}")
            return 0 if report.ok else 1


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="visiono-custom-")
    sys.exit(anyio.run(main, target))
