"""The storage transport over aiohttp, for storage that needs what only a full client has.

A proxy, a custom connector, request tracing: pass your own ``aiohttp.ClientSession``
(``archive(..., http=session)`` means this transport). Errors are translated to the
transport seam's (see ``_transport``).
"""

from __future__ import annotations

import contextlib
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Collection, Mapping
from types import TracebackType

import aiohttp
import yarl

from .._proxy import DIRECT, ProxySettings
from .._version import __version__
from ._http import BodyPipe
from ._transport import (
    DEFAULT_MAX_DECODED,
    REDIRECT_STATUSES,
    BoundedDecoder,
    InvalidRequest,
    StorageBodyCut,
    StorageConnectionError,
    StorageDNSError,
    StorageTLSError,
    TooManyRedirects,
    check_url,
    decoder_for,
    encode_url,
    log_answer,
    next_hop,
)
from ._via_proxy import aiohttp_proxy_error, aiohttp_proxy_options, refused

__all__ = ["AiohttpTransport"]

_USER_AGENT = f"visiono-async/{__version__}"
_OWN_HEADERS = frozenset({"host", "accept-encoding", "user-agent"})


class AiohttpTransport:
    """Storage GETs through an ``aiohttp.ClientSession``, with the lean transport's policy.

    Without ``session`` the transport makes its own on first use, with a connector of its
    own (storage connections never queue behind API calls) and ``trust_env=True`` (proxy
    variables and ``.netrc`` apply), and closes it in :meth:`aclose`. A session passed in
    stays the caller's.

    What it shares with ``LeanTransport``: URLs go out byte for byte (``%2F`` stays
    ``%2F``), ``Accept-Encoding: identity`` is asked for and gzip/deflate decoded in
    bounded steps, redirects are followed here (the one policy of ``next_hop``), and a
    connection whose answer did not arrive with its head is not reused (aiohttp would hand
    bytes past a long body to the next request on it).

    Args:
        session: The session to send through, or ``None`` for a dedicated one.
        connect_timeout: Seconds to connect (TLS handshake included).
        read_timeout: Seconds without a byte from storage before a read fails.
        buffer_limit: Body bytes aiohttp buffers before reading from the socket pauses.
        limit: Connections the dedicated session opens at most (``session=None`` only).
        ssl: The TLS context of the dedicated session (default: the system's trust store).
        max_redirects: Redirects followed per request.
        max_decoded: The most bytes a gzip or deflate body may decode to.
        allow_insecure_redirects: Follow a redirect from ``https`` to plain ``http``.
        proxy: Which origins go through which HTTP proxy, as for ``LeanTransport``; None:
            the session's own settings (``trust_env`` of a dedicated session).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        connect_timeout: float = 30.0,
        read_timeout: float = 60.0,
        buffer_limit: int = 1 << 20,
        limit: int = 100,
        ssl: ssl_module.SSLContext | None = None,
        max_redirects: int = 10,
        max_decoded: int = DEFAULT_MAX_DECODED,
        allow_insecure_redirects: bool = False,
        proxy: ProxySettings | None = None,
    ) -> None:
        self.proxy = proxy if proxy is not None else DIRECT
        self._session = session
        self._owns_session = session is None
        self._limit = limit
        self._ssl = ssl
        self.max_redirects = max_redirects
        self.max_decoded = max_decoded
        self.allow_insecure_redirects = allow_insecure_redirects
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        # aiohttp pauses the socket at twice its read buffer.
        self._bufsize = max(64 * 1024, buffer_limit // 2)

    @contextlib.asynccontextmanager
    async def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        /,
        *,
        sensitive: Collection[str] = (),
    ) -> AsyncIterator[_AiohttpResponse]:
        """GET ``url``: ``async with transport.get(url) as response: ...``.

        See ``StorageTransport.get``.

        Raises:
            InvalidRequest: A URL with a control character, or one aiohttp cannot send.
            InsecureRedirect: A redirect from https to http (unless allowed).
            TooManyRedirects: More than ``max_redirects`` redirects.
            StorageTLSError: The certificate was not accepted.
            StorageDNSError: The host name does not resolve.
            StorageProxyError: The proxy could not be reached, or refused the request.
            StorageConnectionError: No answer.
        """
        check_url(url)
        hop_headers = dict(headers or {})
        try:
            for _hop in range(self.max_redirects + 1):
                started = time.monotonic()
                resp = await self._send(url, hop_headers)
                log_answer(url, resp.status, started)
                location = _location(resp) if resp.status in REDIRECT_STATUSES else None
                if location is None:
                    try:
                        yield _AiohttpResponse(resp, decoder_for(resp.headers, self.max_decoded))
                    finally:
                        resp.release()
                    return
                resp.release()
                url, hop_headers = next_hop(
                    url,
                    location,
                    hop_headers,
                    sensitive=sensitive,
                    allow_insecure=self.allow_insecure_redirects,
                )
            raise TooManyRedirects(f"more than {self.max_redirects} redirects")
        except (aiohttp.ClientHttpProxyError, aiohttp.ClientProxyConnectionError) as exc:
            proxy = self.proxy.for_url(url)
            error = aiohttp_proxy_error(proxy, url, exc) if proxy is not None else None
            if error is None:
                raise StorageConnectionError(f"{type(exc).__name__}: {exc}") from exc
            raise error from exc
        except aiohttp.InvalidURL as exc:
            raise InvalidRequest(f"not a usable URL: {exc}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise StorageBodyCut(f"body cut off: {exc}") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise StorageTLSError(
                f"the TLS certificate of {exc.host}:{exc.port} was not accepted: "
                f"{exc.certificate_error}"
            ) from exc
        except aiohttp.ClientConnectorDNSError as exc:
            raise StorageDNSError(f"cannot resolve {exc.host}: {exc.os_error}") from exc
        except aiohttp.ClientConnectionError as exc:
            raise StorageConnectionError(f"{type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientResponseError as exc:  # aiohttp could not parse the answer
            first_line = str(exc.message).split("\n", 1)[0][:120]
            raise StorageConnectionError(f"malformed HTTP answer: {first_line}") from exc

    async def _send(self, url: str, headers: Mapping[str, str]) -> aiohttp.ClientResponse:
        sent = {k: v for k, v in headers.items() if k.lower() not in _OWN_HEADERS}
        sent["Accept-Encoding"] = "identity"
        sent["User-Agent"] = _USER_AGENT
        proxy = self.proxy.for_url(url)
        options, proxy_auth = aiohttp_proxy_options(proxy, url)
        sent.update(proxy_auth)
        resp = await self.session().get(
            yarl.URL(encode_url(url), encoded=True),
            headers=sent,
            timeout=self._timeout,
            read_bufsize=self._bufsize,
            allow_redirects=False,
            auto_decompress=False,
            **options,
        )
        if resp.status == 407 and proxy is not None:
            resp.release()
            raise refused(proxy, "GET", resp.url.host or "", resp.url.port or 80, 407)
        if not resp.content.is_eof() and resp.connection is not None:
            # The body did not come with the head: aiohttp would pool the connection at the
            # body's end before parsing what follows it, and hand bytes past the body to
            # the next request. Such a connection is not reused.
            protocol = resp.connection.protocol
            if protocol is not None:
                protocol.force_close()
        return resp

    def session(self) -> aiohttp.ClientSession:
        """The session requests go through (the dedicated one is made on first call)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl or True)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=True)
        return self._session

    async def aclose(self) -> None:
        """Close the dedicated session, if one was made; a session passed in stays open."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        elif session is not None:
            self._session = session

    async def __aenter__(self) -> AiohttpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _location(resp: aiohttp.ClientResponse) -> bytes | None:
    """The ``Location`` header as storage sent it (aiohttp's str would re-decode it)."""
    for name, value in resp.raw_headers:
        if name.lower() == b"location" and value.strip():
            return value.strip()
    return None


class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse, decoder: BoundedDecoder | None) -> None:
        self._resp = resp
        self._decoder = decoder
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.url = str(resp.url)
        self.content_length = resp.content_length if decoder is None else None

    async def read(self) -> list[bytes]:
        if self._decoder is not None:
            return await self._decoder.read(self._read_raw)
        return await self._read_raw()

    async def _read_raw(self) -> list[bytes]:
        try:
            chunk = await self._resp.content.readany()
        except aiohttp.ClientPayloadError as exc:
            raise StorageBodyCut(f"body cut off: {exc}") from exc
        return [chunk] if chunk else []

    async def handoff(self, min_first: int = 0) -> BodyPipe | None:
        return None  # aiohttp owns its socket: the body is read with read()
