"""Fetching one file: stream, verify, hash and write it to a temp file, with retries.

The body is read in large chunks; each chunk is written and hashed in one worker-thread
hop (``anyio.to_thread`` under the run's limiter), and the last chunks travel with the
temp file to the finish-and-record stage (``_finish``), which closes it, commits its
manifest row and gives it its final name. A large body from the pipeline's own storage
client does not pass through the event loop at all: a stream thread moves it from the
socket to the file and the hash (``BodyPipe``, ``_Pump``). Failures of any kind,
cancellation included, remove the temp file; nothing partial ever sits under a final name.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import secrets
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import attrs

from .._config import RetryPolicy
from .._exceptions import DownloadError
from .._ratelimit import parse_retry_after
from ._finish import Finisher, Finishing, write_failure
from ._http import BodyPipe
from ._paths import PathOutsideDestinationError
from ._record import ArchivedFile
from ._refresh import BatchURLs, RefreshesExhausted
from ._sink import Sink, TempFile, default_opener
from ._source import RemoteFile
from ._threads import IOThreads
from ._transport import (
    DecodedTooLarge,
    InsecureRedirect,
    InvalidRequest,
    StorageBodyCut,
    StorageConnectionError,
    StorageDNSError,
    StorageResponse,
    StorageTLSError,
    StorageTransport,
    TooManyRedirects,
    UnsupportedEncoding,
    read_at_least,
)
from ._verify import (
    SNIFF_BYTES,
    check_content,
    check_size,
    content_type_error,
    most_bytes,
    sniff,
    vendor_message,
)
from ._via_proxy import StorageProxyError

T = TypeVar("T")

__all__ = [
    "DOWNLOAD_RETRY",
    "FATAL_REASONS",
    "FetchContext",
    "FetchSettings",
    "Target",
    "fetch_file",
    "redact_url",
]

FATAL_REASONS = frozenset(
    {"disk_full", "destination_not_writable", "manifest_unwritable", "manifest_damaged"}
)
"""Reasons that would fail every following file too: the run stops on them."""

_PUMP_WAIT = 0.005
"""Seconds a stream thread waits for storage before the event loop takes over the wait."""
_PROGRESS_EVERY = 4 << 20
"""Bytes a stream thread moves between two progress reports to the event loop."""
_buffers = threading.local()
"""Each stream thread's receive buffer (see ``_buffer``)."""
_REFRESH_STATUSES = frozenset({403, 410})
_NOT_YET_STATUSES = frozenset({404, 409, 425})
"""Answers that mean "not available yet" within a source's availability window."""
_ERROR_BODY_BYTES = 4096
"""Bytes of an error answer read for the vendor's message."""

DOWNLOAD_RETRY = RetryPolicy(
    max_retries=4,
    backoff_base=0.25,
    backoff_max=8.0,
    retry_statuses=frozenset({408, 425, 429, 500, 502, 503, 504}),
)
"""The retry policy of file fetches when none is given: 5 attempts per file, waits from
0.25 s doubling up to 8 s (full jitter), and every 5xx, 408, 425 and 429 retried. Its
``max_wait`` and ``max_reset_wait`` apply to API calls only."""


def download_retry(
    retry: RetryPolicy | None = None,
    *,
    max_attempts: int | None = None,
    backoff: float | None = None,
    backoff_cap: float | None = None,
) -> RetryPolicy:
    """The file-fetch policy: ``retry``, or ``DOWNLOAD_RETRY`` with the shorthand applied.

    Args:
        retry: A full policy; then no shorthand may be given.
        max_attempts: Attempts per file (``max_retries + 1``).
        backoff: The first backoff ceiling in seconds (``backoff_base``).
        backoff_cap: The largest backoff ceiling in seconds (``backoff_max``).

    Raises:
        TypeError: ``retry`` is not a ``RetryPolicy``, or comes with a shorthand option.
        ValueError: ``max_attempts`` below 1, or a negative ``backoff``/``backoff_cap``.
    """
    shorthand = {"max_attempts": max_attempts, "backoff": backoff, "backoff_cap": backoff_cap}
    given = [f"{name}=" for name, value in shorthand.items() if value is not None]
    if retry is not None:
        if not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if given:
            raise TypeError(
                f"pass retry=RetryPolicy(...) or its shorthand {', '.join(given)}, not both"
            )
        return retry
    changes: dict[str, Any] = {}
    if max_attempts is not None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int):
            raise TypeError(f"max_attempts must be an int, got {type(max_attempts).__name__}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        changes["max_retries"] = max_attempts - 1
    for name, field, value in (
        ("backoff", "backoff_base", backoff),
        ("backoff_cap", "backoff_max", backoff_cap),
    ):
        if value is not None:
            if not value >= 0:  # NaN too
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            changes[field] = value
    return attrs.evolve(DOWNLOAD_RETRY, **changes) if changes else DOWNLOAD_RETRY


def _a_policy(_inst: object, _attribute: object, value: object) -> None:
    if not isinstance(value, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class FetchSettings:
    """Tuning of the per-file fetch.

    Which answers are retried: connection errors, resets and cut bodies always (a
    certificate, a name that does not resolve or a proxy's refusal never); among HTTP
    answers, those ``retry.retry_statuses`` names (with 500 among them, every 5xx).
    Whatever the policy says, 401 fails at once, 403 and 410 refresh the URL, and 404,
    409 and 425 within ``availability_timeout`` mean "not yet".

    Attributes:
        chunk_size: Bytes gathered before each write-and-hash hop to a worker thread, and
            the size of each stream thread's receive buffer for large bodies.
        retry: The retry policy (``DOWNLOAD_RETRY`` by default): ``max_retries + 1``
            attempts per file (an attempt that made progress is not counted), the backoff
            between them (``RetryPolicy.backoff``, the API calls' own; a storage
            ``Retry-After`` is waited at most ``backoff_max``), and ``retry_statuses``.
        max_refreshes: URL refreshes per file after 401/403/410 answers.
        refresh_margin: Seconds of validity a URL must have left when a file starts;
            a URL closer to expiry is refreshed first.
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds without receiving a byte before the attempt fails.
        file_timeout: Seconds one file may take, all attempts together, before it fails
            with reason ``timeout`` (a slow drip never trips ``read_timeout``); ``None``:
            no limit.
        fsync: ``fsync`` each file before it is renamed into place.
        opener: Opens a temp file for binary writing, exclusively (a seam for tests; keep
            the default). A binary file object, such as ``open(path, "xb")`` returns, will do.
        availability_timeout: Seconds after a file's ``available_at`` (or its first
            attempt) during which a 404, 409 or 425 answer means "not yet" and is retried
            with backoff; 0: such answers are final (425 is retried as a transient error,
            as ``DOWNLOAD_RETRY`` lists it).
        refresh_expensive: Each URL refresh costs the provider dearly (a new capture): no
            refresh ahead of expiry, and at most one per file.

    ``max_attempts=``, ``backoff=`` and ``backoff_cap=`` are still accepted, and read, with
    a ``DeprecationWarning``: they are ``retry``'s ``max_retries + 1``, ``backoff_base``
    and ``backoff_max``.
    """

    chunk_size: int = 512 * 1024
    retry: RetryPolicy = attrs.field(default=DOWNLOAD_RETRY, validator=_a_policy)
    max_refreshes: int = 3
    refresh_margin: float = 60.0
    connect_timeout: float = 30.0
    read_timeout: float = 60.0
    file_timeout: float | None = None
    fsync: bool = False
    opener: Callable[[str], TempFile] = default_opener
    availability_timeout: float = 0.0
    refresh_expensive: bool = False
    # The names before ``retry``: init-only, folded into it by __attrs_post_init__.
    _max_attempts: int | None = attrs.field(default=None, repr=False, eq=False)
    _backoff: float | None = attrs.field(default=None, repr=False, eq=False)
    _backoff_cap: float | None = attrs.field(default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        legacy = (self._max_attempts, self._backoff, self._backoff_cap)
        if all(value is None for value in legacy):
            return
        names = ", ".join(
            f"{name}="
            for name, value in zip(_LEGACY_NAMES, legacy, strict=True)
            if value is not None
        )
        if self.retry is not DOWNLOAD_RETRY:
            raise TypeError(f"FetchSettings: pass retry=RetryPolicy(...) or {names}, not both")
        warnings.warn(
            f"FetchSettings({names}) is deprecated: pass retry=RetryPolicy(max_retries=..., "
            "backoff_base=..., backoff_max=...) (max_retries is max_attempts - 1)",
            DeprecationWarning,
            stacklevel=3,
        )
        retry = download_retry(
            max_attempts=self._max_attempts, backoff=self._backoff, backoff_cap=self._backoff_cap
        )
        object.__setattr__(self, "retry", retry)
        for name in ("_max_attempts", "_backoff", "_backoff_cap"):
            object.__setattr__(self, name, None)  # attrs.evolve must not fold them in again

    @property
    def max_attempts(self) -> int:
        """Deprecated: ``retry.max_retries + 1``."""
        _deprecated_read("max_attempts", "retry.max_retries + 1")
        return self.retry.max_retries + 1

    @property
    def backoff(self) -> float:
        """Deprecated: ``retry.backoff_base``."""
        _deprecated_read("backoff", "retry.backoff_base")
        return self.retry.backoff_base

    @property
    def backoff_cap(self) -> float:
        """Deprecated: ``retry.backoff_max``."""
        _deprecated_read("backoff_cap", "retry.backoff_max")
        return self.retry.backoff_max


_LEGACY_NAMES = ("max_attempts", "backoff", "backoff_cap")


def _deprecated_read(name: str, instead: str) -> None:
    warnings.warn(
        f"FetchSettings.{name} is deprecated: read FetchSettings.{instead}",
        DeprecationWarning,
        stacklevel=3,
    )


@attrs.frozen
class Target:
    """Where a file goes: its path relative to ``dest`` and its sidecar wish.

    ``rename`` names the file again from a copy with the type its bytes revealed, when
    the plan found no extension (no MIME type announced, none in the URL).
    """

    rel_path: str
    sidecar: bool = False
    rename: Callable[[RemoteFile], str] | None = None


@attrs.define
class FetchContext:
    """What every fetch of a run shares.

    Attributes:
        http: The storage transport.
        tmp_dir: Where temp files go.
        settings: The fetch settings.
        on_bytes: Called with byte counts as they arrive (progress).
        io: The stream threads that move large bodies from socket to file.
        limiter: Bounds the worker threads of all other file work.
        finisher: The finish-and-record stage files are handed to.
        wait_for_record: Whether a fetch waits until its file is recorded (a run that
            shares its destination holds each file's claim until then); otherwise it
            returns once the file is handed to the finisher, which reports the outcome.
    """

    http: StorageTransport
    tmp_dir: str
    settings: FetchSettings
    on_bytes: Callable[[int], None]
    io: IOThreads
    limiter: anyio.CapacityLimiter
    finisher: Finisher
    wait_for_record: bool = False
    _names: Iterator[int] = attrs.field(init=False, factory=itertools.count)
    _prefix: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._prefix = os.path.join(self.tmp_dir, f"{secrets.token_hex(4)}-")

    def temp_path(self) -> str:
        """A fresh temp file path; unique within the run, and random across runs."""
        return f"{self._prefix}{next(self._names)}.part"

    def sink(self) -> Sink:
        """A new temp file for one download."""
        return Sink(self.temp_path, self.settings.opener)


def redact_url(url: str) -> str:
    """The URL without its query string and fragment (where signatures live)."""
    return url.split("?", 1)[0].split("#", 1)[0]


class _Retry(Exception):
    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class _NotYet(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Refresh(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Fail(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Pump:
    """A large body moved from a :class:`BodyPipe` to the temp file and the hash.

    Called in a stream thread; returns ``True`` at the body's end and ``False`` when
    storage went quiet (the caller waits with ``pipe.readable()`` and calls again). A body
    cut off is kept in :attr:`cut` rather than raised, so that it is not taken for a write
    error; the bytes before it are written, for a resume with ``Range``.
    """

    __slots__ = ("cut", "pipe", "report", "sink", "size", "unreported")

    def __init__(
        self, sink: Sink, pipe: BodyPipe, size: int, report: Callable[[int], None]
    ) -> None:
        self.sink = sink
        self.pipe = pipe
        self.size = size
        self.report = report
        self.unreported = 0
        self.cut: StorageBodyCut | None = None

    def __call__(self) -> bool:
        sink, pipe = self.sink, self.pipe
        if pipe.first:
            first, pipe.first = pipe.first, []
            sink.write(first)
            self._count(sum(map(len, first)))
        view = _buffer(self.size)
        readinto = pipe.readinto
        while True:
            got = 0
            try:
                got = readinto(view, _PUMP_WAIT)
                # Fill the buffer while bytes are there: fewer, larger writes.
                while 0 < got < len(view) and (more := readinto(view[got:])):
                    got += more
            except StorageBodyCut as exc:
                self.cut = exc  # after writing what did arrive
            if got:
                sink.write_view(view[:got])
                self._count(got)
            if self.cut is not None:
                return True
            if not got:
                return pipe.remaining == 0

    def _count(self, size: int) -> None:
        self.unreported += size
        if self.unreported >= _PROGRESS_EVERY:
            self.report(self.unreported)
            self.unreported = 0


def _buffer(size: int) -> memoryview:
    """This thread's reused receive buffer of ``size`` bytes."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None or len(view) != size:
        view = _buffers.view = memoryview(bytearray(size))
    return view


def _retry_after(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _k: None)("Retry-After")
    return parse_retry_after(value) if isinstance(value, str) else None


def _content_range_start(value: str | None) -> tuple[int, int | None] | None:
    # "bytes 100-199/200" or "bytes 100-199/*"
    if not value or not value.startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        start = int(span.split("-", 1)[0])
        return start, (None if total == "*" else int(total))
    except ValueError:
        return None


async def _attempt(
    ctx: FetchContext, sink: Sink, file: RemoteFile, target: Target, batch: str
) -> ArchivedFile | None:
    """One GET of the file; raises _Retry, _Refresh or _Fail when it does not archive it."""
    headers: dict[str, str] = dict(file.headers)
    resuming = sink.written > 0
    if resuming:
        headers["Range"] = f"bytes={sink.written}-"
        if sink.etag:
            # The rest of *this* version, or the whole new one (a 200) if it changed.
            headers["If-Range"] = sink.etag
    try:
        async with ctx.http.get(file.url, headers, sensitive=file.headers.keys()) as resp:
            status = resp.status
            if status in _REFRESH_STATUSES:
                raise _Refresh(status)
            if status in _NOT_YET_STATUSES and ctx.settings.availability_timeout > 0:
                raise _NotYet(status, await _answer(resp, status))
            if status == 401:
                raise _Fail(
                    "http_401",
                    f"{await _answer(resp, status)}: storage refused the credentials; a new "
                    "URL cannot fix that, so it was not refreshed",
                )
            if status == 416 and resuming:
                await _run_write(ctx, sink.restart)
                raise _Retry("range_not_satisfiable", "HTTP 416 on resume")
            if status >= 400 and _retryable(ctx.settings.retry, status):
                raise _Retry(f"http_{status}", f"HTTP {status}", _retry_after(resp.headers))
            if status not in (200, 206):
                raise _Fail(f"http_{status}", await _answer(resp, status))
            resp_headers = resp.headers
            total: int | None = resp.content_length
            if status == 206:
                span = _content_range_start(resp_headers.get("Content-Range"))
                if not resuming or span is None or span[0] != sink.written:
                    await _run_write(ctx, sink.restart)
                    raise _Retry("bad_range", "storage answered a range that does not fit")
                total = span[1]
            else:
                if resuming:
                    await _run_write(ctx, sink.restart)
                etag = resp_headers.get("ETag")
                sink.etag = etag if etag and not etag.startswith("W/") else None
            problem = content_type_error(resp_headers.get("Content-Type"), file.mime_type)
            if problem is not None and sink.written == 0:
                message = vendor_message(await read_at_least(resp, _ERROR_BODY_BYTES))
                raise _Fail("error_body", f"{problem}: {message}" if message else problem)
            if total is not None:
                size_problem = check_size(total, size=file.size, size_kb=file.size_kb)
                if size_problem is not None:
                    # An error page is the likelier story than a wrong size: say so if so.
                    head = b"" if sink.written else await read_at_least(resp, SNIFF_BYTES)
                    bad = check_content(head[:SNIFF_BYTES], file.mime_type) if head else None
                    if bad is not None and bad[0] == "error_body":
                        raise _Fail(*bad)
                    raise _Fail("size_mismatch", f"Content-Length: {size_problem}")
            pending, size = await _stream(ctx, sink, file, target, resp, total)
    except (_Retry, _Refresh, _Fail, _NotYet):
        raise
    except StorageProxyError as exc:
        if exc.permanent:  # 403, 407: the proxy will answer the same way again
            raise _Fail("proxy_error", str(exc)) from exc
        raise _Retry("proxy_error", str(exc)) from exc
    except StorageBodyCut as exc:
        raise _Retry("body_cut", f"body cut off: {exc}") from exc
    except StorageTLSError as exc:  # a certificate does not get better by asking again
        raise _Fail("tls_error", str(exc)) from exc
    except StorageDNSError as exc:
        raise _Fail("dns_error", str(exc)) from exc
    except (StorageConnectionError, TimeoutError) as exc:
        raise _Retry("connection_error", f"{type(exc).__name__}: {exc}") from exc
    except TooManyRedirects as exc:
        raise _Fail("too_many_redirects", str(exc)) from exc
    except UnsupportedEncoding as exc:
        raise _Fail("bad_encoding", str(exc)) from exc
    except DecodedTooLarge as exc:
        raise _Fail("decoded_too_large", str(exc)) from exc
    except InsecureRedirect as exc:
        raise _Fail("insecure_redirect", str(exc)) from exc
    except InvalidRequest as exc:  # a URL the client cannot send (scheme, control characters)
        raise _Fail("bad_url", str(exc)) from exc
    # The connection is back in the pool before the last write, close and rename.
    sniffed = None if file.mime_type else sniff(sink.head)
    rel_path = target.rel_path
    if sniffed is not None and target.rename is not None:
        # No type announced and none in the URL: the bytes name the extension.
        rel_path = target.rename(attrs.evolve(file, mime_type=sniffed))
    item = Finishing(
        sink=sink,
        pending=pending,
        file=file,
        batch=batch,
        rel_path=rel_path,
        sidecar=target.sidecar,
        mime_type=file.mime_type or sniffed,
    )
    # ``size``: bytes not yet reported (of those, ``pending`` still to write): counted
    # once handed in, as the file will be finished whatever happens to this task.
    if not ctx.wait_for_record:
        await ctx.finisher.hand_in(item)
        ctx.on_bytes(size)
        return None
    archived = await ctx.finisher.finish(item)
    ctx.on_bytes(size)
    if archived is None:
        assert item.failure is not None
        raise _Fail(*item.failure)
    return archived


async def _answer(resp: StorageResponse, status: int) -> str:
    """ "storage answered HTTP N", with the vendor's own message when its body has one."""
    try:
        body = await read_at_least(resp, _ERROR_BODY_BYTES)
    except Exception:  # the message is a courtesy: a failing read must not hide the status
        body = b""
    message = vendor_message(body[:_ERROR_BODY_BYTES]) if body else None
    return f"storage answered HTTP {status}" + (f": {message}" if message else "")


def _check_head(sink: Sink, pending: list[bytes], file: RemoteFile) -> None:
    first = pending[0] if pending else b""
    head = first if len(first) >= SNIFF_BYTES else b"".join(pending)
    sink.head = head[:SNIFF_BYTES]
    bad = check_content(sink.head, file.mime_type)
    if bad is not None:
        if bad[0] == "error_body":
            message = vendor_message(b"".join(pending)[:_ERROR_BODY_BYTES])
            if message is not None:
                raise _Fail(
                    "error_body", f"storage answered with an error instead of a file: {message}"
                )
        raise _Fail(*bad)


async def _stream(
    ctx: FetchContext,
    sink: Sink,
    file: RemoteFile,
    target: Target,
    resp: StorageResponse,
    total: int | None,
) -> tuple[list[bytes], int]:
    """Receive the body: verified, all but its last chunks written; returns those last."""
    # Chunks are written and hashed in one thread hop per ``chunk_size`` bytes, and a body
    # smaller than that in a single hop together with the rename.
    chunk_size = ctx.settings.chunk_size
    checked = sink.written > 0
    pipe = await resp.handoff(0 if checked else SNIFF_BYTES)
    if pipe is not None:
        return await _stream_in_thread(ctx, sink, file, pipe, total, checked)
    read = resp.read
    pending: list[bytes] = []
    buffered = 0
    most = most_bytes(size=file.size, size_kb=file.size_kb)
    while True:
        chunks = await read()
        if not chunks:
            break
        pending.extend(chunks)
        for chunk in chunks:
            buffered += len(chunk)
        if most is not None and sink.written + buffered > most:
            # Before any of it is written: a body longer than the file cannot be the file.
            raise _Fail("size_mismatch", f"the body exceeds the expected {most} bytes")
        if not checked and buffered >= SNIFF_BYTES:
            _check_head(sink, pending, file)  # an error page fails before anything is written
            checked = True
        if buffered >= chunk_size:
            chunks, pending = pending, []
            await _run_write(ctx, sink.write, chunks)
            ctx.on_bytes(buffered)
            buffered = 0
    if not checked:
        _check_head(sink, pending, file)
    size = sink.written + buffered
    if total is not None and size != total:
        raise _Retry("body_cut", f"got {size} of {total} bytes")
    problem = check_size(size, size=file.size, size_kb=file.size_kb)
    if problem is not None:
        raise _Fail("size_mismatch", problem)
    return pending, buffered


async def _stream_in_thread(
    ctx: FetchContext,
    sink: Sink,
    file: RemoteFile,
    pipe: BodyPipe,
    total: int | None,
    checked: bool,
) -> tuple[list[bytes], int]:
    """Receive a large body in a stream thread (see ``BodyPipe``); same contract as _stream."""
    if not checked:
        _check_head(sink, pipe.first, file)  # an error page fails before anything is written
    loop = asyncio.get_running_loop()
    on_bytes = ctx.on_bytes

    def report(size: int) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
            loop.call_soon_threadsafe(on_bytes, size)

    pump = _Pump(sink, pipe, ctx.settings.chunk_size, report)
    try:
        while not await _translated(ctx.io.run_stream(pump, on_cancel=pipe.abort)):
            await pipe.readable()
        if pump.cut is not None:
            raise pump.cut
        size = sink.written
        if total is not None and size != total:
            raise _Retry("body_cut", f"got {size} of {total} bytes")
    except BaseException:
        # Bytes written stay in the temp file (a resume does not fetch them again): they
        # count, as on the event-loop path.
        on_bytes(pump.unreported)
        raise
    problem = check_size(size, size=file.size, size_kb=file.size_kb)
    if problem is not None:
        raise _Fail("size_mismatch", problem)
    return [], pump.unreported


async def _run_write(ctx: FetchContext, func: Callable[..., None], *args: object) -> None:
    """A chunk's write and hash, in a worker thread (parallel to the others)."""
    await _translated(anyio.to_thread.run_sync(func, *args, limiter=ctx.limiter))


async def _translated(job: Awaitable[T]) -> T:
    try:
        return await job
    except (OSError, PathOutsideDestinationError) as exc:
        raise _Fail(*write_failure(exc)) from exc


def _retryable(policy: RetryPolicy, status: int) -> bool:
    """Whether storage's answer is worth another GET (the policy's ``retry_statuses``)."""
    return policy.is_retryable_status("GET", status, idempotent=True)


def _delay(settings: FetchSettings, failures: int, retry_after: float | None) -> float:
    """The wait before attempt ``failures + 1``: the policy's backoff (the API calls' own),
    or storage's ``Retry-After``, in either case at most ``backoff_max``."""
    policy = settings.retry
    return min(policy.backoff(failures - 1, retry_after), policy.backoff_max)


async def fetch_file(
    ctx: FetchContext, urls: BatchURLs, file_id: str, target: Target
) -> ArchivedFile | None:
    """Archive one file of a batch under ``target``, with retries, refreshes and resume.

    Args:
        ctx: The run's shared context.
        urls: The batch's current URLs (refreshed through it, coalesced).
        file_id: The file to fetch.
        target: Its path relative to ``dest`` and whether to write a sidecar.

    Returns:
        What was written, with ``ctx.wait_for_record``; otherwise ``None`` once the file
        is handed to the finisher (its ``on_archived``/``on_failed`` tell the outcome).

    Raises:
        DownloadError: The file could not be archived; ``reason`` says why. The temp file
            is gone and nothing was written under the final name.
    """
    settings = ctx.settings
    sink = ctx.sink()
    try:
        if settings.file_timeout is None:
            return await _fetch_loop(ctx, urls, file_id, target, sink)
        with anyio.move_on_after(settings.file_timeout):
            return await _fetch_loop(ctx, urls, file_id, target, sink)
        raise _Fail("timeout", f"the file took longer than {settings.file_timeout:g} s")
    except _Fail as exc:
        await _discard(ctx, sink)
        _, file = urls.get(file_id)
        raise DownloadError(
            exc.message,
            reason=exc.reason,
            url=redact_url(file.url) if file is not None else None,
            submission_id=file.known("submission_id") if file is not None else None,
        ) from None
    except BaseException:
        await _discard(ctx, sink)
        raise


async def _discard(ctx: FetchContext, sink: Sink) -> None:
    """Remove a file's temp file, unless the finisher has it, in a worker thread (also when
    the task is being cancelled: a stop leaves no temp file behind)."""
    if sink.handed_over or sink.path is None:
        return  # the finisher's now, or nothing was written
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(sink.discard, limiter=ctx.limiter)


async def _fetch_loop(
    ctx: FetchContext, urls: BatchURLs, file_id: str, target: Target, sink: Sink
) -> ArchivedFile | None:
    """fetch_file's attempts: retries, refreshes and resumes; raises _Fail when done trying."""
    settings = ctx.settings
    max_refreshes = 1 if settings.refresh_expensive else settings.max_refreshes
    failures = 0
    refreshes = 0
    not_yet = 0
    same_url = False
    refreshed_early = False
    generation, file = urls.get(file_id)
    available = await _wait_until_available(file)
    while True:
        if file is None:
            raise _Fail("gone", "the file is no longer in its batch after a URL refresh")
        if not refreshed_early and _expiring(
            file, urls, 0.0 if settings.refresh_expensive else settings.refresh_margin
        ):
            # Once per file: a source whose fresh URLs already look expired (clock skew,
            # rounding) must not loop; storage's 403 then triggers the refresh instead.
            refreshed_early = True
            await _refresh(urls, generation)
            generation, file = urls.get(file_id)
            continue
        before = sink.written
        try:
            result = await _attempt(ctx, sink, file, target, urls.key)
            urls.succeeded(generation)
            return result
        except _NotYet as exc:
            not_yet += 1
            waited = time.monotonic() - available
            if waited >= settings.availability_timeout:
                raise _Fail(
                    f"http_{exc.status}",
                    f"{exc.message}; still not available {waited:.0f} s after it was due "
                    f"({not_yet} attempts)",
                ) from None
            delay = _delay(settings, not_yet, None)
            await anyio.sleep(min(delay, max(0.0, settings.availability_timeout - waited)))
        except _Refresh as exc:
            refreshes += 1
            if refreshes > max_refreshes:
                raise _Fail(
                    "expired_url" if exc.status == 410 else f"http_{exc.status}",
                    f"storage kept answering HTTP {exc.status} after {max_refreshes} URL refreshes",
                ) from None
            old_url = file.url
            await _refresh(urls, generation, limit=max_refreshes, status=exc.status)
            generation, file = urls.get(file_id)
            if file is not None and file.url == old_url:
                # The provider answered with the very URL storage refused. Storage gets one
                # more try after a pause (a passing refusal); after that, neither asking
                # storage nor the provider again can help.
                if same_url:
                    raise _Fail(
                        "expired_url" if exc.status == 410 else f"http_{exc.status}",
                        f"storage answered HTTP {exc.status} twice, and the URL refresh "
                        "returned the same URL: refreshing cannot help",
                    ) from None
                same_url = True
                await anyio.sleep(_delay(settings, refreshes, None))
        except _Retry as exc:
            if sink.written <= before:
                failures += 1
            if failures > settings.retry.max_retries:
                raise _Fail(exc.reason, f"{exc.message} (after {failures} attempts)") from None
            await anyio.sleep(_delay(settings, max(failures, 1), exc.retry_after))


async def _wait_until_available(file: RemoteFile | None) -> float:
    """Sleep until the file's ``available_at``; returns that moment (``time.monotonic()``)."""
    if file is not None and file.available_at is not None:
        delay = (file.available_at - dt.datetime.now(dt.timezone.utc)).total_seconds()
        if delay > 0:
            await anyio.sleep(delay)
    return time.monotonic()


def _expiring(file: RemoteFile, urls: BatchURLs, margin: float) -> bool:
    """Whether the URL should be refreshed before use.

    A URL is refreshed when less than ``margin`` seconds of validity remain, or less than
    half its lifetime when URLs live shorter than that, so that a fresh URL is never
    refreshed again at once.
    """
    if file.expires_at is None:
        return False
    lifetime = file.expires_at - urls.fetched_at
    if lifetime < 1.0:
        return False
    return file.expires_at - time.time() < min(margin, lifetime / 2)


async def _refresh(
    urls: BatchURLs, generation: int, *, limit: int | None = None, status: int | None = None
) -> None:
    try:
        await urls.refresh(generation, limit=limit)
    except RefreshesExhausted:
        reason = "expired_url" if status == 410 else f"http_{status}"
        raise _Fail(
            reason,
            f"storage answered HTTP {status}, and {limit} URL refreshes for {urls.key} "
            "did not help",
        ) from None
    except Exception as exc:
        raise _Fail("refresh_failed", f"could not refresh the URLs of {urls.key}: {exc}") from exc
