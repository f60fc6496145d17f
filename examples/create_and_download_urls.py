"""Create a photo request, let a (simulated) recipient answer it, and print its download URLs.

Runs against the Visiono emulator started in-process, so it needs no API key::

    python examples/create_and_download_urls.py

Against the real API, drop the emulator and build the client with ``VisionoClient()``
(the key comes from ``$VISIONO_API_KEY``); the recipient then uploads through
``pr.request_url``.
"""

from __future__ import annotations

import asyncio

from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator


async def main() -> None:
    """Create, submit, then list the signed URLs of every photo."""
    async with VisionoEmulator() as emulator:
        key = emulator.create_api_key()
        async with VisionoClient(api_key=key, base_url=emulator.base_url) as client:
            pr = await client.photo_requests.create(
                instructions="Upload your ID",
                items=[
                    {"instructions": "Front of ID", "is_required": True},
                    {"instructions": "Back of ID", "is_required": True},
                ],
                expires_in_hours=48,
                metadata={"ticket_id": "12345"},
            )
            print(f"created {pr.id} (code {pr.unique_code}), status {pr.status}")
            print(f"recipient link: {pr.request_url}")

            # The recipient side: one photo per item, the first one with a GPS position.
            front, back = pr.items
            await emulator.simulate_submission(pr.id, front.id, gps=(45.4642, 9.19))
            await emulator.simulate_submission(pr.id, back.id)

            pr = await client.photo_requests.get(pr.id)
            print(f"status after upload: {pr.status}, {pr.submissions_count} photo(s)")

            urls = await client.photo_requests.download_urls(pr.id)
            until = urls.expires_at.isoformat(timespec="seconds") if urls.expires_at else "?"
            print(f"download URLs valid for {urls.urls_valid_for}, until {until}")
            for photo in urls.submissions:
                where = (
                    f"GPS {photo.gps_latitude}, {photo.gps_longitude}"
                    if photo.has_gps_data
                    else "no GPS"
                )
                print(f"- {photo.id} for item {photo.item_id}: {photo.file_size_kb} KB, {where}")
                print(f"  download:  {photo.download_url}")
                print(f"  thumbnail: {photo.thumbnail_url}")


if __name__ == "__main__":
    asyncio.run(main())
