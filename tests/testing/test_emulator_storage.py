"""Built-in storage: signed, expiring URLs with ranges, HEAD and S3-like XML errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator, sample_jpeg

pytestmark = pytest.mark.anyio

CONTENT = sample_jpeg(100_000, seed=7)


def with_query(url: str, **changes: str) -> str:
    """``url`` with query parameters replaced (an empty value removes one)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode({k: v for k, v in query.items() if v})))


async def photo_urls(api: Api, emu: VisionoEmulator, **kwargs: object) -> dict[str, str]:
    """Upload CONTENT to a new request and return its download entry."""
    pr = await api.create()
    await emu.simulate_submission(pr["id"], content=CONTENT, **kwargs)  # type: ignore[arg-type]
    reply = await api.get(f"/photo-requests/{pr['id']}/download-urls")
    entry: dict[str, str] = reply.data["submissions"][0]
    return entry


class TestServe:
    async def test_full_download(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """GET returns the bytes with length, type, ETag and Accept-Ranges."""
        entry = await photo_urls(api, emu)

        async with http.get(entry["download_url"]) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert body == CONTENT
        assert resp.headers["Content-Length"] == str(len(CONTENT))
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["ETag"].startswith('"')

    async def test_stored_mime_type_is_served(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """The upload's mime type becomes the Content-Type and the key's extension."""
        entry = await photo_urls(api, emu, mime_type="image/png")

        async with http.get(entry["download_url"]) as resp:
            await resp.read()

        assert "/original.png?" in entry["download_url"]
        assert resp.headers["Content-Type"] == "image/png"

    async def test_thumbnail_is_a_smaller_jpeg(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """Thumbnails are JPEGs smaller than the photo."""
        entry = await photo_urls(api, emu)

        async with http.get(entry["thumbnail_url"]) as resp:
            thumbnail = await resp.read()

        assert thumbnail[:3] == b"\xff\xd8\xff"
        assert len(thumbnail) < len(CONTENT)

    async def test_head_has_headers_and_no_body(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """HEAD answers the same headers without the bytes."""
        entry = await photo_urls(api, emu)

        async with http.head(entry["download_url"]) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert body == b""
        assert resp.headers["Content-Length"] == str(len(CONTENT))
        assert emu.requests[-1].method == "HEAD"

    @pytest.mark.parametrize(
        ("header", "first", "last"),
        [
            ("bytes=0-99", 0, 99),
            ("bytes=99000-", 99000, 99999),
            ("bytes=-500", 99500, 99999),
            ("bytes=99990-200000", 99990, 99999),
        ],
    )
    async def test_single_ranges_are_206(
        self,
        api: Api,
        emu: VisionoEmulator,
        http: aiohttp.ClientSession,
        header: str,
        first: int,
        last: int,
    ) -> None:
        """``a-b``, ``a-`` and ``-n`` give 206 with Content-Range."""
        entry = await photo_urls(api, emu)

        async with http.get(entry["download_url"], headers={"Range": header}) as resp:
            body = await resp.read()

        assert resp.status == 206
        assert body == CONTENT[first : last + 1]
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{len(CONTENT)}"
        assert emu.requests[-1].range == header

    @pytest.mark.parametrize("header", ["bytes=100000-", "bytes=-0"])
    async def test_unsatisfiable_range_is_416(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession, header: str
    ) -> None:
        """A range starting past the end gets 416 with ``bytes */size``."""
        entry = await photo_urls(api, emu)

        async with http.get(entry["download_url"], headers={"Range": header}) as resp:
            await resp.read()

        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{len(CONTENT)}"

    @pytest.mark.parametrize("header", ["bytes=0-1,5-6", "pages=1-2", "bytes=x-y"])
    async def test_other_ranges_get_the_whole_body(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession, header: str
    ) -> None:
        """Multiple or malformed ranges are ignored: 200 with everything."""
        entry = await photo_urls(api, emu)

        async with http.get(entry["download_url"], headers={"Range": header}) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert body == CONTENT

    async def test_if_range_with_a_stale_etag_gets_everything(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """A resumed download of a changed object restarts from zero."""
        entry = await photo_urls(api, emu)
        headers = {"Range": "bytes=10-", "If-Range": '"stale"'}

        async with http.get(entry["download_url"], headers=headers) as resp:
            body = await resp.read()

        assert resp.status == 200
        assert body == CONTENT


class TestSignature:
    async def test_expired_url_is_403_access_denied(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """Past ``url_ttl`` on the emulator clock the URL is refused with S3-style XML."""
        entry = await photo_urls(api, emu)
        emu.advance_time(86400 + 2)

        async with http.get(entry["download_url"]) as resp:
            body = await resp.text()

        assert resp.status == 403
        assert resp.content_type == "application/xml"
        assert "<Code>AccessDenied</Code>" in body
        assert "<Message>Request has expired</Message>" in body

    @pytest.mark.parametrize(
        "changes",
        [{"signature": "0" * 64}, {"signature": ""}, {"expires": "9999999999"}, {"expires": ""}],
        ids=["forged", "missing", "extended", "no-expiry"],
    )
    async def test_tampered_url_is_403_signature_mismatch(
        self,
        api: Api,
        emu: VisionoEmulator,
        http: aiohttp.ClientSession,
        changes: dict[str, str],
    ) -> None:
        """Any change to the signed parameters breaks the signature."""
        entry = await photo_urls(api, emu)

        async with http.get(with_query(entry["download_url"], **changes)) as resp:
            body = await resp.text()

        assert resp.status == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in body

    async def test_signature_is_bound_to_the_key(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """A signature for the thumbnail does not open the original."""
        entry = await photo_urls(api, emu)
        thumbnail_query = urlsplit(entry["thumbnail_url"]).query
        forged = entry["download_url"].split("?")[0] + "?" + thumbnail_query

        async with http.get(forged) as resp:
            await resp.read()

        assert resp.status == 403

    async def test_unknown_key_with_valid_signature_is_404(
        self, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """A correctly signed URL for nothing gets ``NoSuchKey``."""
        from visiono_async.testing._storage import MemoryStorage

        storage = emu._backend.storage
        assert isinstance(storage, MemoryStorage)
        url = storage.signed_url("ps_nothing/original.jpg", emu.now() + 60)

        async with http.get(url) as resp:
            body = await resp.text()

        assert resp.status == 404
        assert "<Code>NoSuchKey</Code>" in body


class TestCustomTtl:
    async def test_expiry_is_rounded_up(self, http: aiohttp.ClientSession) -> None:
        """A URL never dies before ``expires_in_seconds`` have passed on the emulator clock."""
        async with VisionoEmulator(url_ttl=2.5) as emu:
            api = Api(http, emu, emu.create_api_key())
            before = emu.now()
            entry = await photo_urls(api, emu)

        expires = int(parse_qs(urlsplit(entry["download_url"]).query)["expires"][0])
        assert expires >= before + 2.5

    async def test_url_ttl_sets_meta_and_expiry(self, http: aiohttp.ClientSession) -> None:
        """``url_ttl`` changes ``expires_in_seconds`` and the URLs' lifetime."""
        async with VisionoEmulator(url_ttl=600) as emu:
            api = Api(http, emu, emu.create_api_key())
            entry = await photo_urls(api, emu)
            reply = await api.get(
                f"/photo-requests/{emu.requests[-1].path.split('/')[2]}/download-urls"
            )
            emu.advance_time(601)
            async with http.get(entry["download_url"]) as resp:
                await resp.read()

        assert reply.body["meta"] == {
            "urls_valid_for": "10 minutes",
            "expires_in_seconds": 600,
            "request_id": reply.headers["X-Request-Id"],
        }
        assert resp.status == 403


class TestGeneratedPhotos:
    """A photo uploaded without bytes is kept as a recipe and made as it is served."""

    SIZE = 300_000  # several pieces of the generator
    # The store seeds a generated photo with its submission's sequence number: the first
    # submission of the test's own emulator is seed 0.
    EXPECTED = sample_jpeg(SIZE, seed=0)

    async def generated_url(self, api: Api, emu: VisionoEmulator) -> str:
        pr = await api.create()
        sub = await emu.simulate_submission(pr["id"], size=self.SIZE)
        reply = await api.get(f"/photo-requests/{pr['id']}/download-urls")
        entry = reply.data["submissions"][0]
        assert sub["id"] == entry["id"]
        url: str = entry["download_url"]
        return url

    async def test_the_whole_body_is_sample_jpeg(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """The bytes served equal ``sample_jpeg(size, seed)``; the length is announced."""
        url = await self.generated_url(api, emu)
        async with http.get(url) as resp:
            body = await resp.read()
        assert 200 == resp.status
        assert self.EXPECTED == body
        assert str(self.SIZE) == resp.headers["Content-Length"]
        assert resp.headers["ETag"].startswith('"')

    @pytest.mark.parametrize(
        ("header", "first", "last"),
        [("bytes=70000-140000", 70000, 140000), ("bytes=-10", 299990, 299999), ("bytes=0-0", 0, 0)],
    )
    async def test_ranges_cut_across_pieces(
        self,
        api: Api,
        emu: VisionoEmulator,
        http: aiohttp.ClientSession,
        header: str,
        first: int,
        last: int,
    ) -> None:
        """A range that spans the generator's pieces is the same slice of the bytes."""
        url = await self.generated_url(api, emu)
        async with http.get(url, headers={"Range": header}) as resp:
            body = await resp.read()
        assert 206 == resp.status
        assert self.EXPECTED[first : last + 1] == body

    async def test_head_and_a_cut_body(
        self, api: Api, emu: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """HEAD sends no body; a ``cut_body`` fault stops after the bytes it names."""
        url = await self.generated_url(api, emu)
        async with http.head(url) as resp:
            assert 200 == resp.status
            assert b"" == await resp.read()
        emu.faults.cut_body(100_000, path="/storage/")
        chunks: list[bytes] = []
        async with http.get(url) as resp:

            async def drain() -> None:
                async for chunk in resp.content.iter_any():
                    chunks.append(chunk)

            with pytest.raises(aiohttp.ClientPayloadError):
                await drain()
        assert self.EXPECTED[:100_000] == b"".join(chunks)
