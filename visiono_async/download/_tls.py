"""TLS that the lean client owns: an ``ssl.SSLObject`` over memory BIOs, on a TCP protocol.

asyncio's own TLS transport (``sslproto``) keeps the TLS state to itself, so a body sent
over HTTPS can only be read through the event loop, record by record, in small reads
(CPython issue 133112: protocol-based asyncio TLS is several times slower than a blocking
TLS socket). Here the TLS session is an ``SSLObject`` this module drives: the handshake,
the request and the response head go through the event loop, and a large body can be
continued by a worker thread on a duplicate of the socket with the *same* session
(:class:`~._http.TLSBodyPipe`): ``SSLObject.read`` releases the GIL around ``SSL_read``.

:class:`TLSLayer` is both the protocol of the TCP connection and the transport of the
HTTP protocol above it (the subset :class:`~._http._Connection` uses). While the body is
lent to a thread (:attr:`TLSLayer.lent`) the event loop neither reads nor writes the
session; afterwards whatever the thread left (undelivered plaintext, records in the
incoming BIO) is delivered by the event loop as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

__all__ = ["TLSLayer"]

_RECORD = 32 * 1024
"""Plaintext asked of one ``SSLObject.read``: a TLS record carries at most 16 KiB."""

_GATHER = 64 * 1024
"""Plaintext gathered from records already received before it goes to the app at once."""


class TLSLayer(asyncio.Protocol, asyncio.Transport):
    """TLS over a TCP transport: protocol below, transport to ``app`` above.

    Args:
        app: The protocol the plaintext goes to (``connection_made`` is called once the
            handshake is done).
        context: The client context (certificate verification, ``check_hostname``).
        server_hostname: The name sent as SNI and checked against the certificate.
    """

    def __init__(
        self, app: asyncio.Protocol, context: ssl.SSLContext, server_hostname: str
    ) -> None:
        asyncio.Transport.__init__(self)
        self.app = app
        self.context = context
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(
            self.incoming, self.outgoing, server_hostname=server_hostname
        )
        self.lent = False
        """A worker thread reads the session (see ``TLSBodyPipe``): hands off."""
        self._tcp: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._connected = False  # the handshake is done and ``app`` knows
        self._paused = False
        self._scheduled = False
        self._eof = False
        self._closing = False
        self._error: BaseException | None = None

    # -- the TCP side (asyncio.Protocol) ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tcp = transport  # type: ignore[assignment]
        self._shake()

    def data_received(self, data: bytes) -> None:
        self.incoming.write(data)
        if not self._connected:
            self._shake()
            if not self._connected:
                return
        self._deliver()

    def eof_received(self) -> bool:
        # Plaintext may still wait in the session (reading paused): deliver it first, and
        # close once it is out (see _deliver).
        self._eof = True
        if self._connected:
            self._deliver()
        elif not self._handshake.done():
            self._handshake.set_exception(
                ConnectionResetError("connection closed in the handshake")
            )
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if not self._handshake.done():
            self._handshake.set_exception(
                exc or ConnectionResetError("connection closed in the handshake")
            )
        if self._connected:
            error = exc or self._error
            self.app.connection_lost(error if isinstance(error, Exception) else None)

    # -- the handshake ----------------------------------------------------------------------

    async def handshake(self) -> None:
        """Until the handshake is done; raises what it failed with (``ssl.SSLError``...)."""
        try:
            await self._handshake
        except BaseException:
            self.abort()
            raise

    def _shake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            if self._eof and not self._handshake.done():
                self._handshake.set_exception(
                    ConnectionResetError("connection closed in the handshake")
                )
            return
        except ssl.SSLError as exc:
            self._flush()  # the alert, for the server's log
            if not self._handshake.done():
                self._handshake.set_exception(exc)
            return
        self._flush()
        self._connected = True
        self.app.connection_made(self)
        if not self._handshake.done():
            self._handshake.set_result(None)
        if self.incoming.pending or self.sslobj.pending():
            self._deliver()  # the server's first bytes came with its last handshake flight

    # -- moving plaintext up ------------------------------------------------------------

    def _deliver(self) -> None:
        self._scheduled = False
        if self._stopped():
            return
        sslobj = self.sslobj
        read, pending, incoming = sslobj.read, sslobj.pending, self.incoming
        app = self.app
        while not self._paused:
            # Records already received are decrypted back to back and go up as one piece
            # (up to _GATHER bytes): a small answer's head and body are one parser feed and
            # one write instead of one per record. With nothing new in the BIO nor left in
            # the session there is nothing to decrypt: no read (and no SSLWantReadError).
            parts: list[bytes] = []
            size = 0
            failure: ssl.SSLError | None = None
            while size < _GATHER and (incoming.pending or pending()):
                try:
                    data = read(_RECORD)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLError as exc:
                    failure = exc  # after what decrypted before it
                    break
                if not data:  # close_notify (CPython returns b"" for it): the session is over
                    self._eof = True
                    break
                parts.append(data)
                size += len(data)
            if parts:
                app.data_received(parts[0] if len(parts) == 1 else b"".join(parts))
                if self._stopped():  # the app handed the body off, or failed
                    return
            if failure is not None:
                self._fatal(failure)
                return
            if size < _GATHER or self._eof:
                break  # everything received is decrypted (or the session ended)
        if self.outgoing.pending:
            self._flush()  # a post-handshake answer (key update)
        if self._eof and not self._paused and self._tcp is not None:
            self._closing = True
            self._tcp.close()  # connection_lost settles what the app waits for

    def _stopped(self) -> bool:
        return self.lent or self._closing

    def _fatal(self, exc: BaseException) -> None:
        self._error = exc
        self._closing = True
        if self._tcp is not None:
            self._tcp.abort()

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data and self._tcp is not None and not self._tcp.is_closing():
            self._tcp.write(data)

    # -- the app's side (asyncio.Transport) -------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sslobj.write(data)
        self._flush()

    def pause_reading(self) -> None:
        self._paused = True
        if self._tcp is not None:
            self._tcp.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self._tcp is not None and not self._closing:
            self._tcp.resume_reading()
        # Plaintext already in the session would otherwise wait for the next TCP segment,
        # which may never come. Soon, not now: the caller may be inside a parser callback.
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def is_reading(self) -> bool:
        return not self._paused

    def is_closing(self) -> bool:
        return self._closing or self._tcp is None or self._tcp.is_closing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._tcp is None:
            return
        if self._connected and not self.lent:
            with contextlib.suppress(ssl.SSLError):
                self.sslobj.unwrap()  # close_notify; the server's answer is not awaited
            self._flush()
        self._tcp.close()

    def abort(self) -> None:
        self._closing = True
        if self._tcp is not None:
            self._tcp.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sslcontext":
            return self.context
        if name == "ssl_object":
            return self.sslobj
        if name == "peercert":
            return self.sslobj.getpeercert()
        if name == "cipher":
            return self.sslobj.cipher()
        if self._tcp is None:
            return default
        return self._tcp.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.app = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.app
