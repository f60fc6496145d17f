"""The storage transport seam: what the download pipeline asks of an HTTP client.

The pipeline fetches every file through one small protocol, :class:`StorageTransport`
(``get`` in, a :class:`StorageResponse` with a status, headers and a body stream out), and
never asks which implementation it holds. Two ship with the package: the lean HTTP/1.1
client (``LeanTransport``, in ``_http``) and one over aiohttp (``AiohttpTransport``, in
``_aiohttp``). The errors they raise, and the policy they share, live here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._http import BodyPipe

__all__ = [
    "InvalidRequest",
    "StorageBodyCut",
    "StorageConnectionError",
    "StorageResponse",
    "StorageTransport",
    "TooManyRedirects",
    "UnsupportedEncoding",
]


class StorageConnectionError(ConnectionError):
    """No usable answer: the connection failed, was reset, or the answer was not HTTP."""


class StorageBodyCut(ConnectionError):
    """The answer's headers arrived but its body ended early (reset, close, bad framing)."""


class InvalidRequest(ValueError):
    """A URL or header a transport will not send (scheme, missing host, control characters)."""


class UnsupportedEncoding(Exception):
    """Storage compressed the body with an encoding other than gzip or deflate."""


class TooManyRedirects(Exception):
    """Storage kept redirecting (more than ``max_redirects`` hops)."""


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
