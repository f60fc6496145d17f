"""The storage transport over aiohttp, for storage that needs what only a full client has.

A proxy, a custom connector, request tracing: pass your own ``aiohttp.ClientSession``
(``archive(..., http=session)`` means this transport). Errors are translated to the
transport seam's (see ``_transport``).
"""

from __future__ import annotations

import contextlib
import ssl as ssl_module
from collections.abc import AsyncIterator, Collection, Mapping
from types import TracebackType

import aiohttp

from ._http import BodyPipe
from ._transport import (
    InvalidRequest,
    StorageBodyCut,
    StorageConnectionError,
    TooManyRedirects,
)

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """Storage GETs through an ``aiohttp.ClientSession``.

    Without ``session`` the transport makes its own on first use, with a connector of its
    own (storage connections never queue behind API calls) and ``trust_env=True`` (proxy
    variables and ``.netrc`` apply, as with aiohttp's own defaults for tools), and closes it
    in :meth:`aclose`. A session passed in stays the caller's.

    Args:
        session: The session to send through, or ``None`` for a dedicated one.
        connect_timeout: Seconds to connect (TLS handshake included).
        read_timeout: Seconds without a byte from storage before a read fails.
        buffer_limit: Body bytes aiohttp buffers before reading from the socket pauses.
        limit: Connections the dedicated session opens at most (``session=None`` only).
        ssl: The TLS context of the dedicated session (default: the system's trust store).
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
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._limit = limit
        self._ssl = ssl
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
        """
        try:
            async with self.session().get(
                url,
                headers={"Accept-Encoding": "identity", **(headers or {})},
                timeout=self._timeout,
                read_bufsize=self._bufsize,
                max_redirects=10,
            ) as resp:
                yield _AiohttpResponse(resp)
        except aiohttp.TooManyRedirects as exc:
            raise TooManyRedirects(str(exc)) from exc
        except aiohttp.InvalidURL as exc:
            raise InvalidRequest(f"not a usable URL: {exc}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise StorageBodyCut(f"body cut off: {exc}") from exc
        except aiohttp.ClientConnectionError as exc:
            raise StorageConnectionError(f"{type(exc).__name__}: {exc}") from exc

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


class _AiohttpResponse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.url = str(resp.url)
        self.content_length = resp.content_length

    async def read(self) -> list[bytes]:
        try:
            chunk = await self._resp.content.readany()
        except aiohttp.ClientPayloadError as exc:
            raise StorageBodyCut(f"body cut off: {exc}") from exc
        return [chunk] if chunk else []

    async def handoff(self, min_first: int = 0) -> BodyPipe | None:
        return None  # aiohttp owns its socket: the body is read with read()

    async def read_at_least(self, n: int) -> bytes:
        got = bytearray()
        while len(got) < n:
            chunks = await self.read()
            if not chunks:
                break
            got += chunks[0]
        return bytes(got)
