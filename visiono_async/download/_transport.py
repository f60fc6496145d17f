"""The storage transport seam: what the download pipeline asks of an HTTP client.

The pipeline fetches every file through one small protocol, :class:`StorageTransport`
(``get`` in, a :class:`StorageResponse` with a status, headers and a body stream out), and
never asks which implementation it holds. Two ship with the package: the lean HTTP/1.1
client (``LeanTransport``, in ``_http``) and one over aiohttp (``AiohttpTransport``, in
``_aiohttp``). The errors they raise, and the policy they share, live here.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urljoin, urlsplit

from .._proxy import url_origin

if TYPE_CHECKING:
    from ._http import BodyPipe

__all__ = [
    "DEFAULT_MAX_DECODED",
    "REDIRECT_STATUSES",
    "DecodedTooLarge",
    "InsecureRedirect",
    "InvalidRequest",
    "StorageBodyCut",
    "StorageConnectionError",
    "StorageDNSError",
    "StorageResponse",
    "StorageTLSError",
    "StorageTransport",
    "TooManyRedirects",
    "UnsupportedEncoding",
    "BoundedDecoder",
    "check_url",
    "decoder_for",
    "encode_url",
    "log_answer",
    "next_hop",
    "read_at_least",
]

DEFAULT_MAX_DECODED = 1 << 30
"""The most bytes a compressed body may decode to when its size is unknown (1 GiB)."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters kept as they are in a request target: everything printable in ASCII but the
# space (a signed URL's own percent-escapes and reserved characters must not change).
SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_DECODE_STEP = 256 * 1024

storage_log = logging.getLogger("visiono_async.storage")
"""Storage requests at DEBUG (``visiono -vv``): method, URL without its query, status, time."""


def log_answer(url: str, status: int, started: float) -> None:
    """Log one storage answer at DEBUG; ``started`` is the ``time.monotonic()`` of the send.

    The query string is left out: a signed URL's signature is a credential.
    """
    if storage_log.isEnabledFor(logging.DEBUG):
        bare, query, _ = url.partition("?")
        storage_log.debug(
            "GET %s%s -> %d (%.3fs)",
            bare,
            "?..." if query else "",
            status,
            time.monotonic() - started,
        )


class StorageConnectionError(ConnectionError):
    """No usable answer: the connection failed, was reset, or the answer was not HTTP."""


class StorageTLSError(StorageConnectionError):
    """The server's TLS certificate was not accepted (a permanent failure: not retried)."""


class StorageDNSError(StorageConnectionError):
    """The storage host name does not resolve (a permanent failure: not retried)."""


class StorageBodyCut(ConnectionError):
    """The answer's headers arrived but its body ended early (reset, close, bad framing)."""


class InvalidRequest(ValueError):
    """A URL or header a transport will not send (scheme, missing host, control characters)."""


class UnsupportedEncoding(Exception):
    """Storage compressed the body with an encoding other than gzip or deflate."""


class TooManyRedirects(Exception):
    """Storage kept redirecting (more than ``max_redirects`` hops)."""


class InsecureRedirect(Exception):
    """Storage redirected from ``https`` to plain ``http`` and the caller did not opt in."""


class DecodedTooLarge(Exception):
    """A compressed body decoded to more than the transport's ``max_decoded`` bytes."""


class StorageResponse(Protocol):
    """An answer from storage, as the download pipeline reads it."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers; ``get`` takes names in any case."""
        ...

    @property
    def content_length(self) -> int | None:
        """The body's announced length (``None`` when unknown or content-encoded)."""
        ...

    async def read(self) -> list[bytes]:
        """The next body bytes (decoded); ``[]`` at the end.

        Raises:
            StorageBodyCut: The body ended before its framing said it would.
            TimeoutError: Storage sent nothing for the transport's read timeout.
        """
        ...

    async def handoff(self, min_first: int = 0) -> BodyPipe | None:
        """The rest of the body as a :class:`BodyPipe` for a worker thread, or ``None``.

        The optional fast path: a transport without one returns ``None``, and the body is
        read with :meth:`read`. The pipe's ``first`` holds at least ``min_first`` body
        bytes (for a look at the content first).
        """
        ...


class StorageTransport(Protocol):
    """How the download pipeline fetches from storage: one GET at a time, any status.

    ``LeanTransport`` and ``AiohttpTransport`` implement it; so can a test double or a
    client of your own (pass it as ``archive(..., transport=...)``). A transport raises
    :class:`StorageConnectionError` when no answer came, :class:`StorageBodyCut` when a
    body ended early, ``TimeoutError`` when storage went silent, :class:`InvalidRequest`
    for a URL it will not send and :class:`TooManyRedirects`; the pipeline retries the
    first three.
    """

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        /,
        *,
        sensitive: Collection[str] = (),
    ) -> AbstractAsyncContextManager[StorageResponse]:
        """GET ``url``: ``async with transport.get(url) as response: ...``.

        Args:
            url: The URL, sent as it is (a signed URL's escapes must not change).
            headers: Extra request headers (``Range``, a per-file token, ...).
            sensitive: Names among ``headers`` never sent to another origin on a redirect
                (``Authorization``, ``Cookie`` and ``Proxy-Authorization`` never are).

        Returns:
            The answer whatever its status, redirects followed; leaving the block releases
            the connection.
        """
        ...

    async def aclose(self) -> None:
        """Close the transport's connections (a session passed in stays open)."""
        ...


def check_url(url: str) -> None:
    """Refuse a URL with a control character (CR, LF, TAB, NUL, DEL, ...) before sending.

    Raises:
        InvalidRequest: The URL holds one.
    """
    found = _CONTROL.search(url)
    if found is not None:
        raise InvalidRequest(
            f"a storage URL must not contain control characters (found {found.group()!r})"
        )


def encode_url(url: str) -> str:
    """``url`` as ASCII: raw non-ASCII and spaces percent-encoded once, all else as it is.

    Existing escapes (``%2F``, ``%3D``) and reserved characters (``+``, ``~``) are kept
    byte for byte: a signed URL's signature covers them. The host is IDNA-encoded.
    """
    if url.isascii() and " " not in url:
        return url
    start = url.find("://")
    slash = url.find("/", start + 3) if start > 0 else -1
    base, rest = (url[:slash], url[slash:]) if slash > 0 else (url, "")
    if not base.isascii():
        parts = urlsplit(base)
        host = parts.hostname or ""
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidRequest(f"not a usable host name: {exc}") from None
        base = base.replace(host, ascii_host)
    return base + quote(rest, safe=SAFE)


def next_hop(
    url: str,
    location: bytes,
    headers: Mapping[str, str],
    *,
    sensitive: Collection[str] = (),
    allow_insecure: bool = False,
) -> tuple[str, dict[str, str]]:
    """Where a redirect goes, and the headers to send there: the one redirect policy.

    ``location`` is taken byte for byte when it is plain ASCII; raw UTF-8 (or any byte
    above 0x7F) and spaces are percent-encoded once, existing escapes left alone. On a hop
    to another origin (scheme, host or port) ``Authorization``, ``Cookie``,
    ``Proxy-Authorization`` and the ``sensitive`` headers are dropped.

    Raises:
        InsecureRedirect: ``https`` to ``http`` without ``allow_insecure``.
        InvalidRequest: The new URL holds a control character.
    """
    if location.isascii() and b" " not in location:
        text = location.decode("ascii")
    else:
        text = quote(location, safe=SAFE)
    target = urljoin(url, text)
    check_url(target)
    before, after = url_origin(url), url_origin(target)
    if before and after and before[0] == "https" and after[0] == "http" and not allow_insecure:
        shown = target.split("?", 1)[0]
        raise InsecureRedirect(
            f"storage redirected from https to plain http ({shown}); refused "
            "(allow_insecure_redirects=True allows it)"
        )
    if before == after:
        return target, dict(headers)
    dropped = _CREDENTIALS | {name.lower() for name in sensitive}
    return target, {k: v for k, v in headers.items() if k.lower() not in dropped}


class BoundedDecoder:
    """A gzip or deflate body decoded in bounded steps, never past ``limit`` bytes.

    A small compressed body can expand to gigabytes in one ``decompress`` call; here each
    :meth:`step` yields at most 256 KiB, and the total is checked as it grows.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._input = b""
        self._ended = False
        self.limit = limit
        self.total = 0

    def feed(self, chunks: list[bytes]) -> None:
        """Add compressed bytes."""
        self._input = b"".join([self._input, *chunks]) if self._input else b"".join(chunks)

    def step(self) -> bytes:
        """Decode up to 256 KiB of what was fed.

        Raises:
            StorageBodyCut: The data is not valid for the encoding.
            DecodedTooLarge: The body decoded past ``limit``.
        """
        data, self._input = self._input, b""
        try:
            out = self._zlib.decompress(data, _DECODE_STEP)
        except zlib.error as exc:
            raise StorageBodyCut(f"undecodable compressed body: {exc}") from exc
        self._input = self._zlib.unconsumed_tail
        return self._count(out)

    async def read(self, read_raw: Callable[[], Awaitable[list[bytes]]]) -> list[bytes]:
        """The next decoded bytes (at most 256 KiB) of a body whose raw bytes ``read_raw``
        gives (``[]`` at its end); ``[]`` once the decoded body is complete.

        Raises:
            StorageBodyCut: The data is not valid, or stops before its end marker.
            DecodedTooLarge: The body decoded past ``limit``.
        """
        while True:
            if self._input:
                out = self.step()
                if out:
                    return [out]
                continue
            if self._ended:
                return []
            chunks = await read_raw()
            if chunks:
                self.feed(chunks)
                continue
            tail = self.end()
            return [tail] if tail else []

    def end(self) -> bytes:
        """The last decoded bytes, once the compressed body is complete.

        Raises:
            StorageBodyCut: The compressed stream stops before its end marker.
        """
        self._ended = True
        try:
            tail = self._zlib.flush()
        except zlib.error as exc:
            raise StorageBodyCut(f"undecodable compressed body: {exc}") from exc
        if not self._zlib.eof:
            raise StorageBodyCut("the compressed body ends before its end marker")
        return self._count(tail)

    def _count(self, out: bytes) -> bytes:
        self.total += len(out)
        if self.total > self.limit:
            raise DecodedTooLarge(
                f"the compressed body decodes to more than {self.limit} bytes; stopped there"
            )
        return out


def decoder_for(headers: Mapping[str, str], limit: int) -> BoundedDecoder | None:
    """The decoder a body with these headers needs, or ``None`` (identity).

    Raises:
        UnsupportedEncoding: An encoding other than gzip or deflate.
    """
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    if encoding in ("identity", ""):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return BoundedDecoder(encoding, limit)
    raise UnsupportedEncoding(f"storage sent the body in {encoding!r}, not decodable here")


async def read_at_least(resp: StorageResponse, n: int) -> bytes:
    """At least ``n`` bytes of ``resp``'s body, or the whole body if shorter."""
    got: list[bytes] = []
    size = 0
    while size < n:
        chunks = await resp.read()
        if not chunks:
            break
        got.extend(chunks)
        size += sum(map(len, chunks))
    return b"".join(got)
