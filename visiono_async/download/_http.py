"""A lean HTTP/1.1 client for storage downloads: keep-alive GETs over asyncio protocols.

Archiving thousands of small photos is dominated by per-request overhead, not bytes. A
general client such as aiohttp spends about 70 µs of event-loop time per request here
(request objects, URL normalisation, tracing, timeouts, cookie handling, stream readers);
this client spends about 20 µs, because a storage GET needs little of that: one method,
no request body, no cookies, no credentials. Parsing is done by ``httptools`` (the llhttp
parser of Node.js, as uvicorn uses it), so framing, chunked encoding and malformed answers
are handled by a well-tested C parser; this module only keeps connections and moves bytes.

What it does: HTTP and HTTPS, keep-alive connections pooled per origin (idle ones expire),
a retry on a fresh connection when a pooled one turns out closed before any answer,
redirects (up to ten, ``Range``/``If-Range`` kept), ``gzip``/``deflate`` bodies
decoded, bodies framed by ``Content-Length``, chunked encoding or the end of the
connection, a connect timeout and a read timeout (no byte for that long while the caller
waits), and back-pressure: reading from the socket pauses while ``buffer_limit`` bytes
wait for the caller, so memory per transfer stays bounded whatever the file size. Through
an HTTP proxy when ``proxy`` says so: a ``CONNECT`` tunnel for https, absolute-form
requests for http (:mod:`._via_proxy`).

Large bodies can skip the event loop: with ``handoff_min`` set, a body of known length
is held at its first byte and handed to a worker thread as a :class:`BodyPipe`, which
reads it straight from the socket into a reused buffer (see there for why and how the
connection stays usable). Direct https connections run their TLS in :class:`TLSLayer`
(``_tls.py``) rather than asyncio's, so that the thread can continue the same session
(:class:`TLSBodyPipe`); through a proxy's ``CONNECT`` tunnel TLS stays asyncio's and
bodies are read in the loop.

Errors are few and typed: :class:`StorageConnectionError` (no answer: refused, reset,
unparseable), :class:`StorageProxyError` (the proxy is unreachable or refused),
:class:`StorageBodyCut` (the answer started, its body did not end),
:class:`TooManyRedirects`, :class:`UnsupportedEncoding`, :class:`InvalidRequest` (a
``ValueError``) and ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Collection, Mapping
from types import TracebackType
from urllib.parse import quote, urlsplit

import anyio
import httptools

from .._proxy import DIRECT, ProxySettings, ProxyURL
from .._version import __version__
from ._tls import TLSLayer
from ._transport import (
    DEFAULT_MAX_DECODED,
    REDIRECT_STATUSES,
    SAFE,
    InvalidRequest,
    StorageBodyCut,
    StorageConnectionError,
    StorageDNSError,
    StorageResponse,
    StorageTLSError,
    TooManyRedirects,
    UnsupportedEncoding,
    check_url,
    decoder_for,
    log_answer,
    next_hop,
)
from ._via_proxy import (
    StorageProxyError,
    connect_through,
    forward_head,
    refused,
)

__all__ = [
    "BodyPipe",
    "InvalidRequest",
    "LeanTransport",
    "StorageBodyCut",
    "StorageConnectionError",
    "StorageHTTP",
    "StorageResponse",
    "TooManyRedirects",
    "UnsupportedEncoding",
]

_USER_AGENT = f"visiono-async/{__version__}"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CAN_POLL = hasattr(select, "poll")  # not on Windows: bodies are then read in the loop


class _Origin:
    """Where a request goes, and the fixed part of its request head, ready to send."""

    __slots__ = ("host", "key", "port", "scheme", "tail")

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.key = (scheme, host, port)
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
        self.tail = (
            f" HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {_USER_AGENT}\r\n"
            "Accept-Encoding: identity\r\n"
        )


def _parse(url: str) -> tuple[_Origin, str]:
    """The origin and request target of ``url``, by ``urllib.parse`` (the general case)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port  # ValueError when out of range or not a number
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")  # UnicodeError is a ValueError
    except ValueError as exc:
        raise InvalidRequest(f"not a usable URL: {exc}") from None
    if scheme not in _DEFAULT_PORTS:
        raise InvalidRequest(f"unsupported URL scheme {parts.scheme!r} (http and https only)")
    if not host:
        raise InvalidRequest("the storage URL has no host")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return _Origin(scheme, host, port or _DEFAULT_PORTS[scheme]), target


class _Origins:
    """URL to origin and request target, with the origins cached (storage hosts are few).

    The common URL, ``scheme://host[:port]/path?query``, is split with plain string
    operations; anything unusual goes through ``urllib.parse``.
    """

    def __init__(self) -> None:
        self._cache: dict[str, _Origin] = {}

    def split(self, url: str) -> tuple[_Origin, str]:
        check_url(url)
        start = url.find("://")
        slash = url.find("/", start + 3) if start > 0 else -1
        if slash > 0:
            base, target = url[:slash], url[slash:]
            if "#" in target:
                target = target.split("#", 1)[0]
        else:
            base, target = url, ""
        cached = self._cache.get(base) if target else None
        if cached is not None:
            origin = cached
        elif not target or "?" in base or "#" in base or "@" in base:
            origin, target = _parse(url)  # no path, or userinfo: the general parser
        else:
            if len(self._cache) >= 256:
                self._cache.clear()
            origin = self._cache[base] = _parse(base)[0]
        if not target.isascii() or " " in target:
            target = quote(target, safe=SAFE)
        return origin, target


_MAX_HEAD = 64 * 1024
"""The most header bytes an answer may have (nginx's default limit is 8 KiB)."""

_OWN_HEADERS = frozenset({"host", "user-agent", "accept-encoding"})


def _header_lines(headers: Mapping[str, str]) -> bytes:
    """The caller's headers as request lines, with the blank line that ends the head.

    Headers this client sets itself (``Host``, ``User-Agent``, ``Accept-Encoding``) are
    not sent twice.

    Raises:
        InvalidRequest: A name or value holds CR, LF or NUL, or is not Latin-1 text.
    """
    if not headers:
        return b"\r\n"
    lines = []
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n\x00"):
            raise InvalidRequest("a header must not contain CR, LF or NUL")
        if name.lower() not in _OWN_HEADERS:
            lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidRequest("a header must be Latin-1 text") from None


class _Headers(dict[str, str]):
    """Response headers with lower-case names; ``get`` takes any case."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, key.lower(), default)


class _Connection(asyncio.Protocol):
    """One keep-alive connection and the answer in flight on it."""

    def __init__(self, client: LeanTransport, key: tuple[str, str, int]) -> None:
        self.client = client
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.via: ProxyURL | None = None  # set when requests go to a proxy in absolute form
        self.target_prefix = ""
        self.proxy_line = b""
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.head_bytes = 0
        self.header_bytes = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers: _Headers | None = None
        self.keep_alive = False
        self.complete = False
        self.error: BaseException | None = None
        self.got_bytes = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.in_flight = False
        self.body_bytes = 0
        self.held = False
        self.pipe: BodyPipe | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        self.last_data = self.loop.time()
        if not self.in_flight:
            self._fail(StorageConnectionError("storage sent bytes nobody asked for"))
            return
        if self.complete:
            self._extra()
            return
        if self.headers is None:
            # The parser keeps a head until it ends: a server sending headers forever
            # must not fill the memory.
            self.head_bytes += len(data)
            if self.head_bytes > _MAX_HEAD + self.client.buffer_limit:
                self._fail(StorageConnectionError(f"the answer's head exceeds {_MAX_HEAD} bytes"))
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _ExtraBytes):
                self._extra()
                return
            if isinstance(exc.__context__, StorageConnectionError):  # raised by a callback
                self._fail(exc.__context__)
                return
            cls = StorageBodyCut if self.headers is not None else StorageConnectionError
            self._fail(cls(f"malformed HTTP answer: {exc}"))
        except httptools.HttpParserUpgrade:
            self._fail(StorageConnectionError("storage switched protocols"))
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, StorageConnectionError):  # raised by a callback
                self._fail(exc.__context__)
                return
            cls = StorageBodyCut if self.headers is not None else StorageConnectionError
            self._fail(cls(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        if not self.in_flight or self.complete or self.error is not None:
            return
        if self.headers is None:
            message = "connection closed before an answer"
            self._fail(StorageConnectionError(f"{message}: {exc}" if exc else message))
        elif self._framed_by_close():
            self.complete = True
            self.keep_alive = False
            self._wake()
        else:
            message = "connection closed mid-body"
            self._fail(StorageBodyCut(f"{message}: {exc}" if exc else message))

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # A second answer in the same segment: never part of this one (see _extra).
            raise _ExtraBytes("storage sent bytes after a complete answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > _MAX_HEAD:
            raise StorageConnectionError(f"the answer's head exceeds {_MAX_HEAD} bytes")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.raw_headers = []
            return
        self.status = status
        headers = _Headers()
        for name, value in self.raw_headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1").strip()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        self.keep_alive = self.parser.should_keep_alive()
        if self._can_hand_off(headers):
            self.hold()  # at once: the loop reads no more of the body than came with the head
        self._wake()

    def on_body(self, body: bytes) -> None:
        if not body:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        self.body_bytes += len(body)
        if self.buffered > self.client.buffer_limit and not self.paused:
            self.paused = True
            assert self.transport is not None
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.headers is None:  # the end of an interim answer
            return
        self.complete = True
        self._wake()

    # -- the caller's side ----------------------------------------------------------------

    def location(self) -> bytes | None:
        """The answer's ``Location`` header, as the bytes storage sent."""
        for name, value in self.raw_headers:
            if name.lower() == b"location" and value.strip():
                return value.strip()
        return None

    def send(self, origin: _Origin, target: str, extra: bytes) -> None:
        """Send the request head; ``extra`` holds the caller's header lines, ready."""
        data = f"GET {self.target_prefix}{target}{origin.tail}".encode("latin-1")
        data += self.proxy_line + extra
        self.in_flight = True
        self.last_data = now = self.loop.time()
        self.timer = self.loop.call_at(now + self.client.read_timeout, self._check)
        assert self.transport is not None
        self.transport.write(data)

    async def wait(self) -> None:
        """Until something new happened (headers, body bytes, the end, an error)."""
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def take(self) -> list[bytes]:
        chunks, self.chunks = self.chunks, []
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.last_data = self.loop.time()
            if self.transport is not None:
                self.transport.resume_reading()
        return chunks

    def hold(self) -> None:
        """Pause reading: the rest of the body may go to a worker thread (BodyPipe)."""
        self.held = True
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def release_hold(self) -> None:
        """The body is read here after all: resume reading if only the hold paused it."""
        self.held = False
        if self.paused and self.buffered <= self.client.buffer_limit:
            self.paused = False
            self.last_data = self.loop.time()
            if self.transport is not None:
                self.transport.resume_reading()

    def finish(self) -> bool:
        """End the exchange; whether the connection can carry another request."""
        if self.timer is not None:
            self.timer.cancel()
        pipe = self.pipe
        if pipe is not None:
            clean = pipe.done and pipe.clean_end()
            pipe.close()
            if not clean:
                self.keep_alive = False  # bytes past the body (or its end): not reusable
            elif not self.closed and self.transport is not None:
                # The thread read the body to its last byte, never beyond: the connection
                # is at the start of the next answer, which a fresh parser reads.
                self.complete = True
                self.parser = httptools.HttpResponseParser(self)
                self.paused = False
                self.transport.resume_reading()
        reusable = (
            self.complete
            and self.keep_alive
            and self.error is None
            and not self.closed
            and not self.chunks
            and not self.paused
        )
        self._reset()
        return reusable

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- internals --------------------------------------------------------------------------

    def _can_hand_off(self, headers: _Headers) -> bool:
        threshold = self.client.handoff_min
        if threshold is None or not 200 <= self.status < 300 or self.transport is None:
            return False
        if not _CAN_POLL:
            return False
        length = headers.get("content-length")
        return (
            length is not None
            and length.isdigit()
            and int(length) >= threshold
            and "transfer-encoding" not in headers
            and (headers.get("content-encoding") or "identity").strip().lower() == "identity"
            and (
                self.transport.get_extra_info("sslcontext") is None
                or isinstance(self.transport, TLSLayer)  # TLS we own, a thread can continue
            )
            and self.transport.get_extra_info("socket") is not None
        )

    def _framed_by_close(self) -> bool:
        headers = self.headers
        assert headers is not None
        return (
            "content-length" not in headers
            and "chunked" not in (headers.get("transfer-encoding") or "").lower()
        )

    def _extra(self) -> None:
        """Bytes after a complete answer: whatever they are, the connection is done.

        The answer stands as its framing delimited it; the bytes are neither parsed into
        it nor left for the next request on this connection, which is closed.
        """
        self.keep_alive = False
        self.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self.close()
        self._wake()

    def _check(self) -> None:
        self.timer = None
        if not self.in_flight or self.complete or self.error is not None:
            return
        now = self.loop.time()
        deadline = self.last_data + self.client.read_timeout
        if self.paused or now < deadline:
            # Paused: the caller is busy with what it has, storage is not late.
            when = now + self.client.read_timeout if self.paused else deadline
            self.timer = self.loop.call_at(when, self._check)
            return
        self._fail(TimeoutError(f"no data from storage for {self.client.read_timeout:g} s"))


class BodyPipe:
    """The rest of a body of known length, for a worker thread to read from the socket.

    Why: a large body read through the event loop costs two copies and a few Python calls
    per 256 KiB in the loop's thread (the loop's read buffer into ``bytes``, the parser's
    body slice into ``bytes``), then a thread hop to write and hash it. With two cores
    shared with the server, that per-chunk work in one thread is what bounds a bulk
    download of large files. A worker thread that reads straight into a reused buffer,
    writes it and hashes it runs C calls back to back, each releasing the GIL.

    The connection stays the event loop's: its reading is paused while the body is here,
    the thread reads from a duplicate of the socket (closing it never closes the
    connection's) and never past the body's last byte, so the connection can carry the
    next request once :attr:`done`. While storage is silent the thread does not wait long:
    :meth:`readinto` returns 0 and the caller waits in the event loop with
    :meth:`readable`, so a slow server holds no thread.

    Attributes:
        first: Body bytes that had arrived before the hand-off, in order.
        remaining: Body bytes still to read from the socket.
        aborted: :meth:`abort` was called; the connection will not be reused.
    """

    def __init__(self, fd: int, first: list[bytes], remaining: int, read_timeout: float) -> None:
        self._sock = socket.socket(fileno=os.dup(fd))
        # Non-blocking whatever socket.setdefaulttimeout() says: waits go through poll.
        self._sock.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self._sock.fileno(), select.POLLIN)
        self.first = first
        self.remaining = remaining
        self.read_timeout = read_timeout
        self.aborted = False

    @property
    def done(self) -> bool:
        """Whether the whole body was read."""
        return self.remaining == 0 and not self.aborted

    def readinto(self, view: memoryview, wait: float = 0.0) -> int:
        """Blocking, in a worker thread: read up to ``len(view)`` body bytes into ``view``.

        Waits up to ``wait`` seconds for bytes to arrive, and returns 0 when none did (or
        when the body is complete).

        Raises:
            StorageBodyCut: The connection closed or failed before the body's end, or the
                pipe was aborted.
        """
        want = min(len(view), self.remaining)
        waited = False
        while want > 0:
            if self.aborted:
                raise StorageBodyCut("the transfer was stopped")
            try:
                got = self._sock.recv_into(view, want)
            except BlockingIOError:
                if waited or wait <= 0:
                    return 0
                waited = True
                self._poll.poll(wait * 1000)
                continue
            except OSError as exc:
                raise StorageBodyCut(f"connection failed mid-body: {exc}") from exc
            if got == 0:
                if self.aborted:
                    raise StorageBodyCut("the transfer was stopped")
                raise StorageBodyCut(f"connection closed {self.remaining} bytes before the end")
            self.remaining -= got
            return got
        return 0

    async def readable(self) -> None:
        """In the event loop: wait until the socket has bytes (or its end) to read.

        Raises:
            TimeoutError: Nothing arrived for ``read_timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        fd = self._sock.fileno()
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _set_none, ready)
        try:
            with anyio.fail_after(self.read_timeout):
                await ready
        except TimeoutError:
            raise TimeoutError(f"no data from storage for {self.read_timeout:g} s") from None
        finally:
            loop.remove_reader(fd)

    def abort(self) -> None:
        """Make a read in progress stop at once (any thread); the connection is dropped."""
        self.aborted = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def clean_end(self) -> bool:
        """Whether the connection holds nothing past the body (checked once it is read).

        A byte waiting past ``Content-Length``, or the connection's end, means it must
        not carry another request: the next answer read on it would be those bytes.
        """
        try:
            extra = self._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        del extra  # a byte past the body, or b"" for the connection's end
        return False

    def close(self) -> None:
        """Close the duplicate socket (in the event loop, once no thread reads any more)."""
        self._sock.close()


_CIPHER_READ = 256 * 1024
"""Ciphertext taken from the socket at a time by a :class:`TLSBodyPipe`."""

_cipher_buffers = threading.local()


def _cipher_buffer() -> bytearray:
    """This thread's reused buffer for ciphertext on its way into a session's BIO.

    One per thread, not per pipe: a fresh 256 KiB buffer for every body was allocated
    and zeroed in the event loop's thread (page faults, then an ``munmap`` when freed),
    about 0.3 ms per body with the GIL held. A buffer's bytes are copied into the BIO
    before ``readinto`` returns, so a pipe continued in another thread loses nothing.
    """
    buffer: bytearray | None = getattr(_cipher_buffers, "buffer", None)
    if buffer is None:
        buffer = _cipher_buffers.buffer = bytearray(_CIPHER_READ)
    return buffer


class TLSBodyPipe(BodyPipe):
    """A :class:`BodyPipe` for a body inside a TLS session the lean client owns.

    The worker thread continues the connection's session (:class:`TLSLayer`): ciphertext
    from the duplicate socket goes into the session's incoming BIO and ``SSLObject.read``
    decrypts it straight into the caller's buffer, with the GIL released. It never asks
    for more *plaintext* than the body has left; TLS records may still carry bytes past
    the body, and those stay in the session (or its BIO) where the event loop finds them
    when the connection is handed back: :meth:`clean_end` tells whether there are any.
    While the pipe is open the event loop leaves the session alone (``layer.lent``).
    """

    def __init__(
        self,
        fd: int,
        layer: TLSLayer,
        first: list[bytes],
        remaining: int,
        read_timeout: float,
    ) -> None:
        super().__init__(fd, first, remaining, read_timeout)
        self._layer = layer
        self._sslobj = layer.sslobj
        self._incoming = layer.incoming
        layer.lent = True

    def readinto(self, view: memoryview, wait: float = 0.0) -> int:
        """Blocking, in a worker thread: decrypt up to ``len(view)`` body bytes into ``view``.

        Waits up to ``wait`` seconds for bytes to arrive, and returns 0 when none did (or
        when the body is complete).

        Raises:
            StorageBodyCut: The connection closed, reset or broke the TLS session before
                the body's end, or the pipe was aborted.
        """
        want = min(len(view), self.remaining)
        waited = False
        sslobj, incoming = self._sslobj, self._incoming
        cipher: bytearray | None = None
        # One SSL_read yields one record (16 KiB at most): records already here are
        # decrypted back to back into the view, so the caller writes fewer, larger blocks.
        filled = 0
        while filled < want:
            if self.aborted:
                raise StorageBodyCut("the transfer was stopped")
            try:
                got: int = sslobj.read(want - filled, view[filled:])  # type: ignore[assignment] # with a buffer: a count
            except ssl_module.SSLWantReadError:
                got = -1  # the next record is not all here yet
            except ssl_module.SSLError as exc:
                self.remaining -= filled
                raise StorageBodyCut(f"the TLS session failed mid-body: {exc}") from exc
            if got > 0:
                filled += got
                continue
            if got == 0:  # close_notify (CPython returns 0 for it, not SSLZeroReturnError)
                self.remaining -= filled
                raise StorageBodyCut(
                    f"storage ended the TLS session {self.remaining} bytes before the end"
                )
            if cipher is None:
                cipher = _cipher_buffer()
            try:
                size = self._sock.recv_into(cipher)
            except BlockingIOError:
                if filled or waited or wait <= 0:
                    break
                waited = True
                self._poll.poll(wait * 1000)
                continue
            except OSError as exc:
                if filled:
                    break  # the bytes decrypted first; the failure shows on the next call
                raise StorageBodyCut(f"connection failed mid-body: {exc}") from exc
            if size == 0:
                if filled:
                    break
                if self.aborted:
                    raise StorageBodyCut("the transfer was stopped")
                raise StorageBodyCut(f"connection closed {self.remaining} bytes before the end")
            incoming.write(memoryview(cipher)[:size])
        self.remaining -= filled
        return filled

    def clean_end(self) -> bool:
        """Whether the session and the socket hold nothing past the body.

        Plaintext already decrypted, a record waiting in the BIO that decrypts to
        plaintext (or ends the session), or any byte on the socket: not reusable. Records
        without application data (a session ticket) are consumed and do not count.
        """
        sslobj = self._sslobj
        if sslobj.pending():
            return False
        if self._incoming.pending:
            try:
                extra = sslobj.read(1)  # b"" for close_notify, past the body all the same
            except ssl_module.SSLWantReadError:
                extra = None  # records without application data (a session ticket)
            except ssl_module.SSLError:  # a broken record
                return False
            if extra is not None or sslobj.pending() or self._incoming.pending:
                return False
        return super().clean_end()

    def close(self) -> None:
        """Close the duplicate socket; the session is the event loop's again."""
        self._layer.lent = False
        super().close()


def _set_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Response:
    """An answer from storage; its body is read with :meth:`read`.

    Attributes:
        status: The HTTP status.
        headers: The headers, names in lower case (``get`` takes any case).
        url: The URL that answered (after redirects).
    """

    def __init__(self, conn: _Connection, url: str) -> None:
        self._conn = conn
        self.status = conn.status
        headers = conn.headers
        assert headers is not None
        self.headers: Mapping[str, str] = headers
        self.url = url
        self._decoder = decoder_for(headers, conn.client.max_decoded)
        self._encoded = self._decoder is not None

    @property
    def content_length(self) -> int | None:
        """The body's length as announced, or ``None`` (chunked, encoded, or unknown)."""
        if self._encoded:
            return None
        value = self.headers.get("content-length")
        if value is None or not value.isdigit():
            return None
        return int(value)

    async def read(self) -> list[bytes]:
        """The body bytes that have arrived since the last call; ``[]`` at the end.

        Waits when nothing has arrived yet. Raises :class:`StorageBodyCut` when the body
        ends early and ``TimeoutError`` when storage goes silent.
        """
        conn = self._conn
        if conn.held:
            conn.release_hold()
        if self._decoder is not None:
            return await self._decoder.read(self._read_raw)
        return await self._read_raw()

    async def _read_raw(self) -> list[bytes]:
        """The body bytes as they came (still encoded, if they are)."""
        conn = self._conn
        while True:
            if conn.chunks:
                return conn.take()
            if conn.error is not None:
                raise _body_error(conn.error)
            if conn.complete:
                return []
            await conn.wait()

    async def handoff(self, min_first: int = 0) -> BodyPipe | None:
        """The rest of the body as a :class:`BodyPipe`, or ``None`` to use :meth:`read`.

        Only a body the connection held back for this (``handoff_min`` of the client: a
        body of known length, not encoded, over plain HTTP or TLS of our own) is handed
        off. When fewer than
        ``min_first`` of its bytes came with the head, reading resumes until they are
        here (the read timeout applies), then the body is held again and handed off.
        """
        conn = self._conn
        if conn.held and conn.buffered < min_first:
            conn.release_hold()
            while (
                conn.buffered < min_first
                and not conn.complete
                and conn.error is None
                and not conn.closed
            ):
                await conn.wait()
            conn.hold()
        if not conn.held or conn.complete or conn.error is not None or conn.closed:
            return None
        length = self.content_length
        transport = conn.transport
        assert length is not None
        assert transport is not None
        first = conn.chunks
        conn.chunks = []
        conn.buffered = 0
        raw = transport.get_extra_info("socket")
        remaining = length - conn.body_bytes
        try:
            if isinstance(transport, TLSLayer):
                pipe: BodyPipe = TLSBodyPipe(
                    raw.fileno(), transport, first, remaining, conn.client.read_timeout
                )
            else:
                pipe = BodyPipe(raw.fileno(), first, remaining, conn.client.read_timeout)
        except OSError:  # no descriptor left for the duplicate (EMFILE): read it here
            conn.chunks = first + conn.chunks
            conn.buffered = sum(map(len, conn.chunks))
            conn.release_hold()
            return None
        conn.pipe = pipe
        return pipe


def _body_error(error: BaseException) -> BaseException:
    return StorageBodyCut(str(error)) if isinstance(error, StorageConnectionError) else error


class _ExtraBytes(Exception):
    """Raised in a parser callback: a new answer began after the complete one."""


class _Exchange:
    """``async with client.get(url) as response``: the connection goes back afterwards."""

    def __init__(
        self,
        client: LeanTransport,
        url: str,
        headers: Mapping[str, str],
        sensitive: Collection[str],
    ) -> None:
        self._client = client
        self._url = url
        self._headers = headers
        self._sensitive = sensitive
        self._conn: _Connection | None = None

    async def __aenter__(self) -> _Response:
        client = self._client
        url = self._url
        headers = self._headers
        for _hop in range(client.max_redirects + 1):
            started = time.monotonic()
            conn, response = await client._exchange(url, headers)
            log_answer(url, response.status, started)
            self._conn = conn
            location = conn.location() if response.status in REDIRECT_STATUSES else None
            if location is None:
                return response
            self._release()
            url, headers = next_hop(
                url,
                location,
                headers,
                sensitive=self._sensitive,
                allow_insecure=client.allow_insecure_redirects,
            )
        raise TooManyRedirects(f"more than {client.max_redirects} redirects")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._release(conn)


class LeanTransport:
    """The pipeline's own storage transport: keep-alive HTTP/1.1 GETs, pooled per origin.

    The default of ``archive()``; pass one as ``archive(..., transport=...)`` to tune it
    (an ``ssl`` context, timeouts) or share it between runs. Use it as an async context
    manager, or call :meth:`aclose`.

    Args:
        connect_timeout: Seconds to connect (TLS handshake included).
        read_timeout: Seconds without a byte from storage, while the caller waits for one,
            before the read fails with ``TimeoutError``.
        buffer_limit: Body bytes held for the caller before reading from the socket pauses.
        max_idle: Idle connections kept per origin.
        idle_timeout: Seconds an idle connection is kept.
        max_redirects: Redirects followed per request.
        ssl: The TLS context for ``https`` URLs (default: the system's trust store).
        handoff_min: Bodies of at least this many bytes may be handed to a worker thread
            (:meth:`_Response.handoff`, for bodies of known length, over plain HTTP or a
            direct https connection); ``None``: never.
        max_decoded: The most bytes a gzip or deflate body may decode to
            (:class:`DecodedTooLarge` past it). Identity is always asked for.
        allow_insecure_redirects: Follow a redirect from ``https`` to plain ``http``
            (refused with :class:`InsecureRedirect` by default).
        proxy: Which origins go through which HTTP proxy (``CONNECT`` tunnels for https,
            see :mod:`._via_proxy`); None: every connection is direct.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 30.0,
        read_timeout: float = 60.0,
        buffer_limit: int = 2 << 20,
        max_idle: int = 64,
        idle_timeout: float = 15.0,
        max_redirects: int = 10,
        ssl: ssl_module.SSLContext | None = None,
        handoff_min: int | None = 256 * 1024,
        max_decoded: int = DEFAULT_MAX_DECODED,
        allow_insecure_redirects: bool = False,
        proxy: ProxySettings | None = None,
    ) -> None:
        self.max_decoded = max_decoded
        self.allow_insecure_redirects = allow_insecure_redirects
        self.connect_timeout = connect_timeout
        self.proxy = proxy if proxy is not None else DIRECT
        self.handoff_min = handoff_min
        self.read_timeout = read_timeout
        self.buffer_limit = buffer_limit
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.max_redirects = max_redirects
        self._ssl = ssl
        self._origins = _Origins()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False
        self.connections_made = 0
        """Connections opened so far (for tests and statistics)."""

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        /,
        *,
        sensitive: Collection[str] = (),
    ) -> _Exchange:
        """GET ``url``: ``async with http.get(url) as response: ...``.

        The answer is returned whatever its status (redirects are followed). Leaving the
        block before the body's end closes the connection instead of reusing it.

        Raises:
            InvalidRequest: The URL is not http(s), or a URL or header holds CR, LF or
                NUL (a ``ValueError``).
            StorageConnectionError: No answer (connection refused, reset, not HTTP).
            TooManyRedirects: More than ``max_redirects`` redirects.
            TimeoutError: Connecting, or waiting for the answer, took too long.
        """
        return _Exchange(self, url, headers or {}, sensitive)

    async def aclose(self) -> None:
        """Close every connection."""
        self._closed = True
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()

    async def __aenter__(self) -> LeanTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals --------------------------------------------------------------------------

    async def _exchange(
        self, url: str, headers: Mapping[str, str]
    ) -> tuple[_Connection, _Response]:
        if self._closed:
            raise RuntimeError("the storage client is closed")
        origin, target = self._origins.split(url)
        extra = _header_lines(headers)  # a bad header fails before any connection
        key = origin.key
        while True:
            conn = self._pooled(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(key, origin)
            try:
                conn.send(origin, target, extra)
                while conn.headers is None:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait()
                if conn.status == 407 and conn.via is not None:
                    raise refused(conn.via, "GET", origin.host, origin.port, 407)
                return conn, _Response(conn, url)
            except StorageConnectionError:
                answered = conn.got_bytes
                conn.finish()
                conn.close()
                if reused and not answered:
                    continue  # the server had closed the idle connection: a fresh one
                raise
            except BaseException:
                conn.finish()
                conn.close()
                raise

    def _pooled(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        deadline = time.monotonic() - self.idle_timeout
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing():
                continue
            if conn.idle_since < deadline:
                conn.close()
                continue
            return conn
        return None

    async def _connect(self, key: tuple[str, str, int], origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        ssl_context: ssl_module.SSLContext | None = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl_module.create_default_context()
            ssl_context = self._ssl
        proxy = self.proxy.for_origin(origin.scheme, origin.host, origin.port)
        try:
            with anyio.fail_after(self.connect_timeout):
                if proxy is None and ssl_context is None:
                    _transport, conn = await loop.create_connection(
                        lambda: _Connection(self, key), origin.host, origin.port
                    )
                elif proxy is None:
                    assert ssl_context is not None
                    conn = await self._connect_tls(loop, key, origin, ssl_context)
                else:
                    conn = await connect_through(
                        proxy,
                        origin.scheme,
                        origin.host,
                        origin.port,
                        lambda: _Connection(self, key),
                        ssl_context,
                        _USER_AGENT,
                    )
                    if ssl_context is None:
                        conn.via = proxy
                        conn.target_prefix, conn.proxy_line = forward_head(
                            proxy, origin.host, origin.port
                        )
        except TimeoutError:
            through = f" through proxy {proxy}" if proxy is not None else ""
            raise TimeoutError(
                f"connecting to {origin.host}:{origin.port}{through} took over "
                f"{self.connect_timeout:g} s"
            ) from None
        except StorageProxyError:
            raise
        except ssl_module.SSLCertVerificationError as exc:
            raise StorageTLSError(
                f"the TLS certificate of {origin.host}:{origin.port} was not accepted: {exc}"
            ) from exc
        except socket.gaierror as exc:
            raise StorageDNSError(f"cannot resolve {origin.host}: {exc.strerror or exc}") from exc
        except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            raise StorageConnectionError(
                f"cannot connect to {origin.host}:{origin.port}: {exc}"
            ) from exc
        self.connections_made += 1
        if self._closed:
            conn.close()
            raise RuntimeError("the storage client is closed")
        self._open.add(conn)
        return conn

    async def _connect_tls(
        self,
        loop: asyncio.AbstractEventLoop,
        key: tuple[str, str, int],
        origin: _Origin,
        context: ssl_module.SSLContext,
    ) -> _Connection:
        """A direct https connection whose TLS session is ours (:class:`TLSLayer`).

        The handshake checks the certificate and the host name as ``loop.start_tls``
        does (the same context, SNI and ``server_hostname``).
        """
        conn = _Connection(self, key)
        _tcp, layer = await loop.create_connection(
            lambda: TLSLayer(conn, context, origin.host), origin.host, origin.port
        )
        await layer.handshake()
        return conn

    def _release(self, conn: _Connection) -> None:
        if not conn.finish() or self._closed:
            conn.close()
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        self._open.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)


StorageHTTP = LeanTransport
"""The name :class:`LeanTransport` had before the transport seam."""
