"""The nginx storage origin over HTTPS: trustme certificates, real sockets, real nginx."""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import attrs
import pytest
import trustme
from archive_helpers import trusting

from tests.conftest import require_binary
from tests.download.test_nginx_origin import (
    ExpiredFirstStorage,
    TamperedStorage,
    archived_photos,
    assert_archived_exactly,
    nginx_origin,
)
from visiono_async.download import archive, read_manifest
from visiono_async.download._http import StorageConnectionError, StorageHTTP, StorageResponse
from visiono_async.testing._nginx import NginxStorage

# anyio explicitly: the conftest adds it after collection, which drops parametrize ids.
pytestmark = [pytest.mark.nginx, pytest.mark.anyio]

PHOTO = b"\xff\xd8\xff\xe0" + random.Random(7).randbytes(3 << 20) + b"\xff\xd9"
IN_AN_HOUR = time.time() + 3600


@attrs.frozen
class TLSFiles:
    """A throwaway CA and a certificate it issued for 127.0.0.1, as PEM files."""

    ca: trustme.CA
    ca_pem: Path
    certfile: Path
    keyfile: Path
    combined: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting the CA (and nothing else)."""
        return trusting(self.ca)


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    """A fresh CA, its certificate for 127.0.0.1/localhost and the key, in ``tmp_path``."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = tmp_path / "tls"
    files.mkdir()
    paths = {name: files / f"{name}.pem" for name in ("ca", "cert", "key", "combined")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for blob in leaf.cert_chain_pems[1:]:
        blob.write_to_path(str(paths["cert"]), append=True)
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(paths["combined"]))
    return TLSFiles(ca, paths["ca"], paths["cert"], paths["key"], paths["combined"])


@pytest.fixture
async def https_storage(tls: TLSFiles) -> AsyncIterator[NginxStorage]:
    """A running HTTPS NginxStorage (separate certificate and key files), with access log."""
    require_binary("nginx")
    async with NginxStorage(certfile=tls.certfile, keyfile=tls.keyfile, access_log=True) as storage:
        yield storage


async def body_of(resp: StorageResponse) -> bytes:
    out: list[bytes] = []
    while chunks := await resp.read():
        out.extend(chunks)
    return b"".join(out)


def with_query(url: str, **changes: str) -> str:
    """``url`` with some query parameters replaced (or removed when the value is empty)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    query = {k: v for k, v in query.items() if v}
    return urlunsplit(parts._replace(query=urlencode(query)))


class TestServeOverHTTPS:
    async def test_storage_http_fetches_a_put_file_byte_for_byte(
        self, https_storage: NginxStorage, tls: TLSFiles
    ) -> None:
        """https URLs; the pipeline's client, trusting the CA, gets the exact bytes twice
        over one kept-alive TLS connection."""
        await https_storage.put("pr_1/sub_1.jpg", PHOTO, "image/jpeg")
        url = https_storage.signed_url("pr_1/sub_1.jpg", IN_AN_HOUR)

        assert "https" == https_storage.scheme
        assert https_storage.base_url == f"https://127.0.0.1:{https_storage.port}"
        assert url.startswith(https_storage.base_url + "/pr_1/sub_1.jpg?md5=")
        async with StorageHTTP(ssl=tls.client_context()) as http:
            for _ in range(2):
                async with http.get(url) as resp:
                    assert 200 == resp.status
                    assert "image/jpeg" == resp.headers.get("content-type")
                    assert len(PHOTO) == resp.content_length
                    assert PHOTO == await body_of(resp)
            assert 1 == http.connections_made
        assert [
            f"GET /pr_1/sub_1.jpg 200 {len(PHOTO)}"
        ] * 2 == await https_storage.logged_requests()

    async def test_a_combined_cert_and_key_file_works(self, tls: TLSFiles) -> None:
        """``certfile`` alone, holding key and chain, is enough (like ``load_cert_chain``)."""
        require_binary("nginx")
        async with NginxStorage(certfile=tls.combined) as storage:
            await storage.put("a.jpg", PHOTO[:1000], "image/jpeg")
            async with (
                StorageHTTP(ssl=tls.client_context()) as http,
                http.get(storage.signed_url("a.jpg", IN_AN_HOUR)) as resp,
            ):
                assert 200 == resp.status
                assert PHOTO[:1000] == await body_of(resp)

    async def test_the_default_stays_plain_http(self) -> None:
        """No certfile: http URLs, as before."""
        require_binary("nginx")
        async with NginxStorage() as storage:
            assert "http" == storage.scheme
            assert storage.base_url.startswith("http://127.0.0.1:")
            assert storage.signed_url("a.jpg", IN_AN_HOUR).startswith("http://")

    def test_a_keyfile_without_certfile_is_refused(self, tls: TLSFiles) -> None:
        with pytest.raises(ValueError, match="keyfile needs a certfile"):
            NginxStorage(keyfile=tls.keyfile)


class TestRejectedHTTPSURLs:
    @pytest.mark.parametrize(
        ("change", "status"),
        [
            ({"expires": "past"}, 410),
            ({"md5": "A" * 22}, 403),
            ({"md5": ""}, 403),
            ({"expires": "future"}, 403),  # expires changed after signing: signature breaks
        ],
        ids=["expired", "tampered-signature", "no-signature", "tampered-expiry"],
    )
    async def test_bad_signed_urls_are_refused_like_over_http(
        self, https_storage: NginxStorage, tls: TLSFiles, change: dict[str, str], status: int
    ) -> None:
        """nginx answers 410 to an expired URL and 403 to a wrong or missing signature,
        the same statuses as the plain-HTTP origin; the photo's bytes never leave."""
        await https_storage.put("k.jpg", PHOTO, "image/jpeg")
        if change.get("expires") == "past":
            url = https_storage.signed_url("k.jpg", time.time() - 60)
        else:
            url = https_storage.signed_url("k.jpg", IN_AN_HOUR)
            if change.get("expires") == "future":
                change = {"expires": str(int(IN_AN_HOUR) + 3600)}
            url = with_query(url, **change)
        async with StorageHTTP(ssl=tls.client_context()) as http, http.get(url) as resp:
            assert status == resp.status
            body = await body_of(resp)
        assert PHOTO[:100] not in body
        assert [f"GET /k.jpg {status}"] == [
            " ".join(line.split()[:3]) for line in await https_storage.logged_requests()
        ]


class TestUntrustedCertificate:
    async def test_a_client_not_trusting_the_ca_fails_to_connect(
        self, https_storage: NginxStorage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The system trust store does not know the test CA: StorageConnectionError, caused
        by the certificate verification failure, and nginx never sees a request."""
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        await https_storage.put("k.jpg", PHOTO[:1000], "image/jpeg")
        url = https_storage.signed_url("k.jpg", IN_AN_HOUR)
        for context in (ssl.create_default_context(), None):  # explicit, and the default
            async with StorageHTTP(ssl=context) as http:
                with pytest.raises(StorageConnectionError, match="CERTIFICATE_VERIFY_FAILED") as e:
                    async with http.get(url):
                        pass
                assert isinstance(e.value.__cause__, ssl.SSLCertVerificationError)
                assert 0 == http.connections_made
        assert [] == await https_storage.logged_requests()

    async def test_plain_http_to_the_https_port_is_not_served(
        self, https_storage: NginxStorage, tls: TLSFiles
    ) -> None:
        """An http:// URL on the TLS port gets nginx's 400, never the photo."""
        await https_storage.put("k.jpg", PHOTO[:1000], "image/jpeg")
        url = https_storage.signed_url("k.jpg", IN_AN_HOUR).replace("https://", "http://", 1)
        async with StorageHTTP() as http, http.get(url) as resp:
            assert 400 == resp.status
            assert PHOTO[:1000] not in await body_of(resp)


class TestArchiveOverHTTPS:
    async def test_every_photo_arrives_byte_for_byte(
        self, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """archive() through the emulator, photos on HTTPS nginx, the CA trusted through
        ``SSL_CERT_FILE`` (the pipeline's own client uses ``ssl.create_default_context()``):
        every file on disk, its sha256 in the manifest, one GET per photo."""
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
        dest = tmp_path / "archive"
        storage = NginxStorage(certfile=tls.certfile, keyfile=tls.keyfile, access_log=True)
        async with nginx_origin(storage) as origin:
            report = await archive(origin.client, dest, photo_requests=origin.request_ids)

            await assert_archived_exactly(origin, dest)
            assert (12, 0, []) == (report.downloaded, report.skipped, report.failed)
            assert sum(map(len, origin.photos.values())) == report.bytes
            gets = [line for line in await origin.storage_log() if line.startswith("GET ")]
            assert 12 == len(gets)
            assert all(line.split()[2] == "200" for line in gets)

    async def test_a_410_over_https_refreshes_and_completes(
        self, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """URLs nginx considers expired cost one refresh per photo request, as over HTTP."""
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
        dest = tmp_path / "archive"
        storage = ExpiredFirstStorage(certfile=tls.certfile, keyfile=tls.keyfile, access_log=True)
        async with nginx_origin(storage, requests=2, photos_per_request=3) as origin:
            report = await archive(origin.client, dest, photo_requests=origin.request_ids)

            await assert_archived_exactly(origin, dest)
            assert (6, []) == (report.downloaded, report.failed)
            assert 2 * 2 == origin.download_url_calls()
            statuses = [line.split()[2] for line in await origin.storage_log()]
            assert (6, 6) == (statuses.count("410"), statuses.count("200"))

    async def test_tampered_https_urls_fail_with_http_403(
        self, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wrong signature over HTTPS fails each file with http_403; nothing is written."""
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_pem))
        dest = tmp_path / "archive"
        storage = TamperedStorage(certfile=tls.certfile, keyfile=tls.keyfile, access_log=True)
        async with nginx_origin(storage, requests=1, photos_per_request=3) as origin:
            report = await archive(origin.client, dest, photo_requests=origin.request_ids)

            assert 0 == report.downloaded
            assert ["http_403"] * 3 == [f.reason for f in report.failed]
            assert {} == archived_photos(dest)
            assert [] == await read_manifest(dest)
            assert {"403"} == {line.split()[2] for line in await origin.storage_log()}

    async def test_without_trusting_the_ca_every_file_fails_and_nothing_is_written(
        self, tls: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No SSL_CERT_FILE: each file fails once with tls_error naming the certificate
        check, no request reaches nginx, no photo lands on disk."""
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        dest = tmp_path / "archive"
        storage = NginxStorage(certfile=tls.certfile, keyfile=tls.keyfile, access_log=True)
        async with nginx_origin(storage, requests=1, photos_per_request=3) as origin:
            report = await archive(
                origin.client, dest, photo_requests=origin.request_ids, max_attempts=1
            )

            assert 0 == report.downloaded
            assert ["tls_error"] * 3 == [f.reason for f in report.failed]
            assert all("CERTIFICATE_VERIFY_FAILED" in f.message for f in report.failed)
            assert {} == archived_photos(dest)
            assert [] == await origin.storage_log()
