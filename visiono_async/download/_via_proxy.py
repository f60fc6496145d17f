"""Storage connections through an HTTP proxy, as curl makes them.

For ``https`` URLs the lean client asks the proxy for a tunnel (``CONNECT host:443``)
and then speaks TLS to the origin inside it (``loop.start_tls`` on the tunnel), so the
proxy sees neither the signed URL nor the photo. For ``http`` URLs the connection goes to
the proxy and each request names its whole URL (absolute form, ``GET http://host/path``).
Either way the connection is kept alive and pooled per origin like a direct one.

A proxy that cannot be reached or refuses raises :class:`StorageProxyError`, naming the
proxy without its credentials.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp

from .._proxy import ProxyURL, url_origin

__all__ = [
    "StorageProxyError",
    "aiohttp_proxy_error",
    "aiohttp_proxy_options",
    "connect_through",
    "forward_head",
    "refused",
    "unreachable",
]

_MAX_HEAD = 64 * 1024
_P = TypeVar("_P", bound=asyncio.Protocol)

PERMANENT_REFUSALS = frozenset({403, 407})
"""A proxy's refusals that retrying does not change: forbidden, credentials needed."""


class StorageProxyError(ConnectionError):
    """The proxy could not be reached, or it refused the request (407, 403, 502, ...).

    Attributes:
        proxy: The proxy's URL, without credentials.
        status: The proxy's refusal status, or None when it could not be reached.
        permanent: Whether a retry would be refused the same way (403, 407).
    """

    def __init__(self, message: str, *, proxy: str, status: int | None = None) -> None:
        super().__init__(message)
        self.proxy = proxy
        self.status = status
        self.permanent = status in PERMANENT_REFUSALS


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def refused(
    proxy: ProxyURL, what: str, host: str, port: int, status: int, reason: str | None = None
) -> StorageProxyError:
    """The error for a proxy's refusal of ``what`` (``"CONNECT"``, ``"GET"``) to host:port."""
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "refused"
    message = f"proxy {proxy} refused {what} to {_host_port(host, port)}: {status} {reason}"
    if status == 407:
        message += (
            " (the proxy rejected the credentials)"
            if proxy.username is not None
            else " (the proxy needs credentials: http://user:password@host:port)"
        )
    return StorageProxyError(message, proxy=proxy.url, status=status)


def unreachable(proxy: ProxyURL, exc: BaseException) -> StorageProxyError:
    """The error for a proxy that could not be connected to."""
    return StorageProxyError(f"cannot connect to proxy {proxy}: {exc}", proxy=proxy.url)


def forward_head(proxy: ProxyURL, host: str, port: int) -> tuple[str, bytes]:
    """For an ``http`` origin: the request-target prefix and the proxy's header line."""
    auth = proxy.authorization
    line = f"Proxy-Authorization: {auth}\r\n".encode("latin-1") if auth else b""
    return f"http://{_host_port(host, port)}", line


class _Handshake(asyncio.Protocol):
    """Reads the proxy's answer to ``CONNECT``: its head, and nothing after it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0:
            self.answer.set_result(bytes(self._buffer[: end + 4]))
        elif len(self._buffer) > _MAX_HEAD:
            self.answer.set_exception(ConnectionError(f"an answer head over {_MAX_HEAD} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ConnectionError("the proxy closed the connection"))


def _status(head: bytes) -> tuple[int, str] | None:
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2].strip() if len(parts) == 3 else ""


async def connect_through(
    proxy: ProxyURL,
    scheme: str,
    host: str,
    port: int,
    protocol_factory: Callable[[], _P],
    ssl_context: ssl_module.SSLContext | None,
    user_agent: str,
) -> _P:
    """A connection to ``scheme://host:port`` through ``proxy``, its protocol attached.

    ``http``: a plain connection to the proxy (requests then go in absolute form).
    ``https``: a ``CONNECT`` tunnel with TLS to the origin inside it; the protocol's
    ``connection_made`` gets the TLS transport.

    Raises:
        StorageProxyError: The proxy could not be reached, refused ``CONNECT``, or did not
            answer it like an HTTP proxy.
        OSError: TLS to the origin failed (``ssl.SSLError``).
    """
    loop = asyncio.get_running_loop()
    if scheme == "http":
        try:
            _transport, protocol = await loop.create_connection(
                protocol_factory, proxy.host, proxy.port
            )
        except OSError as exc:
            raise unreachable(proxy, exc) from exc
        return protocol
    try:
        transport, handshake = await loop.create_connection(_Handshake, proxy.host, proxy.port)
    except OSError as exc:
        raise unreachable(proxy, exc) from exc
    target = _host_port(host, port)
    auth = proxy.authorization
    request = (
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {user_agent}\r\n"
        + (f"Proxy-Authorization: {auth}\r\n" if auth else "")
        + "\r\n"
    )
    try:
        transport.write(request.encode("latin-1"))
        try:
            head = await handshake.answer
        except ConnectionError as exc:
            raise StorageProxyError(
                f"proxy {proxy} did not answer CONNECT to {target}: {exc}", proxy=proxy.url
            ) from None
        status = _status(head)
        if status is None:
            raise StorageProxyError(
                f"proxy {proxy} sent a malformed answer to CONNECT to {target}", proxy=proxy.url
            )
        if not 200 <= status[0] < 300:
            raise refused(proxy, "CONNECT", host, port, *status)
        protocol = protocol_factory()
        tls = await loop.start_tls(
            transport, protocol, ssl_context or _default_context(), server_hostname=host
        )
    except BaseException:
        if handshake.answer.done() and not handshake.answer.cancelled():
            handshake.answer.exception()  # retrieved: no "never retrieved" noise
        transport.close()
        raise
    if tls is None:  # pragma: no cover - only for a loop without TLS support
        transport.close()
        raise StorageProxyError(
            f"TLS could not start inside the tunnel of {proxy}", proxy=proxy.url
        )
    protocol.connection_made(tls)
    return protocol


def _default_context() -> ssl_module.SSLContext:
    return ssl_module.create_default_context()


def aiohttp_proxy_options(
    proxy: ProxyURL | None, url: str
) -> tuple[Mapping[str, Any], Mapping[str, str]]:
    """The options (``proxy=``, ``proxy_headers=``) and extra request headers of an aiohttp
    GET of ``url`` through ``proxy``.

    aiohttp sends ``proxy_headers`` on a tunnel's CONNECT only: for an http URL the
    credentials go on the request itself, which the proxy consumes.
    """
    if proxy is None:
        return {}, {}
    auth = proxy.authorization
    if not auth:
        return {"proxy": proxy.url}, {}
    if url[:8].lower() == "https://":
        return {"proxy": proxy.url, "proxy_headers": {"Proxy-Authorization": auth}}, {}
    return {"proxy": proxy.url}, {"Proxy-Authorization": auth}


def aiohttp_proxy_error(proxy: ProxyURL, url: str, exc: BaseException) -> StorageProxyError | None:
    """The proxy error an aiohttp failure stands for, or None when it is no proxy's doing."""
    _scheme, host, port = url_origin(url) or ("", "", 0)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return refused(proxy, "CONNECT", host, port, exc.status, exc.message)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return unreachable(proxy, exc.os_error or exc)
    return None
