"""Archive another vendor's photos and thumbnails: a token-authorised API, page by page.

The API lists photos in numbered pages (``GET /v2/photos?page=N`` with ``meta.current_page``
and ``meta.last_page``) and serves each file only with ``Authorization: Bearer TOKEN``.
Sometimes it answers a JSON error instead of an image; those files fail with the vendor's
own message in the report, and nothing but real images lands in DEST. Files come without a
MIME type: their extension comes from their bytes.

    PHOTO_API_TOKEN=... python examples/token_photo_api.py API_URL DEST
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
import anyio

from visiono_async.download import RemoteFile, SignedURLSource, archive, walk_pages


async def main(api: str, dest: str, token: str) -> int:
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:

        async def page(params: dict[str, Any]) -> Any:
            async with http.get(f"{api}/v2/photos", params=params, headers=auth) as resp:
                resp.raise_for_status()
                return await resp.json()

        async def sign() -> list[RemoteFile]:
            """The whole listing: each photo and its thumbnail, with the token to send."""
            files = []
            async for photo in walk_pages(page):
                files.append(
                    RemoteFile(
                        id=photo["id"],
                        url=photo["image_url"],
                        size=photo.get("bytes"),
                        submission_id=photo["id"],
                        headers=auth,
                    )
                )
                if photo.get("thumbnail_url"):
                    files.append(
                        RemoteFile(
                            id=f"{photo['id']}:thumbnail",
                            url=photo["thumbnail_url"],
                            variant="thumbnail",
                            submission_id=photo["id"],
                            headers=auth,
                        )
                    )
            return files

        report = await archive(
            None,
            dest,
            source=SignedURLSource.from_refreshers({"photos": sign}),
            variant="both",
            template="{submission_id}{ext}",
        )
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or "PHOTO_API_TOKEN" not in os.environ:
        sys.exit("usage: PHOTO_API_TOKEN=... python examples/token_photo_api.py API_URL DEST")
    sys.exit(anyio.run(main, sys.argv[1].rstrip("/"), sys.argv[2], os.environ["PHOTO_API_TOKEN"]))
