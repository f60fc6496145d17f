"""The orchestration of an archive run.

Stages, connected by small memory object streams so that memory stays flat however many
files there are::

    list batches -> fetch URLs (``lookahead`` calls at a time) -> dispatch (skip, name) -> workers
                                                                     |
                                                   manifest writer (batched, in a thread)

Batch URLs are fetched just in time: fetchers stop while the files already fetched but not
yet handed to a worker exceed a few rounds of ``concurrency``, so URLs are fresh when used,
and start again early enough that downloads never wait for the API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import math
import os
import secrets
import shutil
import sqlite3
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any, Literal, Protocol

import aiohttp
import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._config import ClientConfig
from .._exceptions import (
    AuthenticationError,
    DownloadError,
    NotFoundError,
    PermissionDeniedError,
)
from .._proxy import ProxySettings
from ._aiohttp import AiohttpTransport
from ._claims import SharedDestination
from ._fetch import FATAL_REASONS, FetchContext, FetchResult, FetchSettings, Target, fetch_file
from ._http import LeanTransport
from ._manifest import STATE_DIR, Manifest
from ._paths import (
    DEFAULT_TEMPLATE,
    extension_for,
    render_path,
    template_fields,
    validate_template,
)
from ._progress import ProgressCallback, ProgressEvent, ProgressKind, terminal_progress
from ._refresh import BatchURLs
from ._report import ArchiveError, ArchiveReport, FailedFile
from ._source import Batch, RemoteFile, Source
from ._threads import IOThreads
from ._transport import StorageTransport

__all__ = ["ArchiveClient", "Variant", "archive", "iter_archive"]

Variant = Literal["original", "thumbnail", "both"]
_VARIANTS: dict[str, frozenset[str]] = {
    "original": frozenset({"original"}),
    "thumbnail": frozenset({"thumbnail"}),
    "both": frozenset({"original", "thumbnail"}),
}
_FLUSH_INTERVAL = 0.25
_FLUSH_ROWS = 512
_IO_THREADS = 4
"""Worker threads for file work: chunks of large files are written and hashed in parallel."""
_HANDOFF_BYTES = 256 * 1024
"""Bodies from this size on are moved from socket to file by a stream thread (BodyPipe)."""


class ArchiveClient(Protocol):
    """What ``archive`` needs from a client: ``VisionoClient`` satisfies it."""

    @property
    def config(self) -> ClientConfig:
        """The client's settings; ``config.proxy`` also applies to storage."""
        ...

    @property
    def storage_transport(self) -> StorageTransport | None:
        """The transport a run uses when it names none; ``None``: the run makes its own."""
        ...

    @property
    def http_session(self) -> aiohttp.ClientSession | None:
        """The caller's own aiohttp session, which then fetches storage too; or ``None``."""
        ...

    @property
    def photo_requests(self) -> Any:
        """The photo requests resource (``list``, ``download_urls``)."""
        ...

    @property
    def smart_links(self) -> Any:
        """The smart links resource (``list``, ``download_urls``)."""
        ...


@attrs.define(eq=False)
class _Job:
    urls: BatchURLs
    file_id: str
    target: Target
    state: _BatchState


@attrs.define(eq=False)
class _BatchState:
    urls: BatchURLs
    outstanding: int = 0
    dispatched: bool = False

    def done_one(self) -> None:
        self.outstanding -= 1
        self._maybe_release()

    def _maybe_release(self) -> None:
        if self.dispatched and self.outstanding <= 0:
            self.urls.release()

    def finish_dispatch(self) -> None:
        self.dispatched = True
        self._maybe_release()


class _Run:
    """Counters, failures and the stages of one run."""

    def __init__(
        self,
        *,
        source: Source,
        dest: str,
        state_dir: str,
        manifest: Manifest,
        ctx: FetchContext,
        variants: frozenset[str],
        template: str,
        sidecar: bool,
        on_progress: ProgressCallback | None,
        ahead_limit: int,
        shared: SharedDestination | None = None,
    ) -> None:
        self.shared = shared
        self.source = source
        self.ahead = 0
        self.ahead_limit = ahead_limit
        self._room = anyio.Event()
        self.dest = dest
        self.state_dir = state_dir
        self.manifest = manifest
        self.ctx = ctx
        self.variants = variants
        self.template = template
        self.template_has_variant = "variant" in template_fields(template)
        self.sidecar = sidecar
        self.on_progress = on_progress
        self.files_total = 0
        self.listing = True  # more batches may still add to files_total
        self.batches_failed = 0
        self.downloaded = 0
        self.skipped = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.failed: list[FailedFile] = []
        self.fetches = 0
        self.pending_rows: list[tuple[FetchResult, str]] = []
        self.claimed: dict[str, str] = {}
        self.fatal: DownloadError | None = None
        self.error: Exception | None = None
        self.started = time.monotonic()
        self.api_calls_before: int | None = None
        self.api_counter: Any = None

    # -- progress -------------------------------------------------------------------

    def emit(
        self,
        kind: ProgressKind,
        *,
        file_id: str | None = None,
        path: str | None = None,
        size: int = 0,
        message: str | None = None,
    ) -> None:
        if self.on_progress is None:
            return
        self.on_progress(
            ProgressEvent(
                kind,
                file_id=file_id,
                path=path,
                bytes=size,
                message=message,
                files_total=self.files_total,
                files_done=self.downloaded,
                files_skipped=self.skipped,
                files_failed=len(self.failed) - self.batches_failed,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                listing=self.listing,
            )
        )

    def on_bytes(self, n: int) -> None:
        self.bytes_done += n
        if n and self.on_progress is not None:
            self.emit("bytes", size=n)

    def on_fetch(self, _key: str) -> None:
        self.fetches += 1

    def fail(self, who: str, path: str | None, reason: str, message: str) -> None:
        self.failed.append(FailedFile(who, path, reason, message))
        self.emit("file_failed", file_id=who, path=path, message=f"{reason}: {message}")

    # -- stages -----------------------------------------------------------------------

    async def list_batches(self, send: MemoryObjectSendStream[Batch]) -> None:
        async with send:
            async for batch in self.source.batches():
                await send.send(batch)

    async def fetch_batches(
        self,
        receive: MemoryObjectReceiveStream[Batch],
        send: MemoryObjectSendStream[BatchURLs],
    ) -> None:
        async with receive, send:
            async for batch in receive:
                while self.ahead >= self.ahead_limit:
                    if self._room.is_set():
                        self._room = anyio.Event()
                    await self._room.wait()
                urls = BatchURLs(batch, on_fetch=self.on_fetch)
                try:
                    await urls.refresh(0)
                except (AuthenticationError, PermissionDeniedError):
                    raise
                except NotFoundError:
                    self.batches_failed += 1
                    self.fail(batch.key, None, "not_found", f"{_batch_name(batch)}: not found")
                    continue
                except Exception as exc:
                    self.batches_failed += 1
                    self.fail(batch.key, None, "batch_failed", f"{type(exc).__name__}: {exc}")
                    continue
                urls.ahead_count = len(urls.files())
                self.ahead += urls.ahead_count
                await send.send(urls)

    async def dispatch(
        self,
        receive: MemoryObjectReceiveStream[BatchURLs],
        send: MemoryObjectSendStream[_Job],
    ) -> None:
        async with receive, send:
            async for urls in receive:
                state = _BatchState(urls)
                files = [f for f in urls.files() if f.variant in self.variants]
                self.files_total += len(files)
                self.emit("batch", message=urls.key)
                complete = await self._complete_on_disk(files)
                for file in files:
                    if file.id in complete:
                        self.skipped += 1
                        self.emit("file_skipped", file_id=file.id, path=complete[file.id])
                        continue
                    rel = self._path_for(file)
                    self.bytes_total += _expected_size(file)
                    state.outstanding += 1
                    job = _Job(urls, file.id, Target(rel, self.sidecar), state)
                    try:
                        # A waiting worker takes it at once: skip send()'s extra round trip
                        # through the event loop, which is a visible cost per small file.
                        send.send_nowait(job)
                    except anyio.WouldBlock:
                        await send.send(job)
                state.finish_dispatch()
                self.ahead -= urls.ahead_count
                self._room.set()
            self.listing = False

    async def work(self, receive: MemoryObjectReceiveStream[_Job], tg: TaskGroup) -> None:
        async with receive:
            while True:
                try:
                    # The next job without a round trip through the event loop when one is
                    # queued (every fetch awaits the network, so cancellation still lands).
                    job = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        job = await receive.receive()
                    except anyio.EndOfStream:
                        return
                except anyio.EndOfStream:
                    return
                if self.fatal is not None or self.error is not None:
                    return  # the run is stopping (a fatal file error, a failed stage)
                try:
                    await self._one(job, tg)
                finally:
                    job.state.done_one()

    async def _one(self, job: _Job, tg: TaskGroup) -> None:
        if self.shared is None:
            await self._fetch_one(job, tg)
            return
        # shared_dest: one run at a time per file; recorded before the claim is let go.
        async with self.shared.claim(job.file_id) as archived:
            if archived is not None:
                self.skipped += 1
                self.emit("file_skipped", file_id=job.file_id, path=archived[0])
                return
            await self._fetch_one(job, tg)
            await self.flush()

    async def _fetch_one(self, job: _Job, tg: TaskGroup) -> None:
        rel = job.target.rel_path
        self.emit("file_started", file_id=job.file_id, path=rel)
        try:
            result = await fetch_file(self.ctx, job.urls, job.file_id, job.target)
        except DownloadError as exc:
            who = exc.submission_id or job.file_id
            self.fail(who, rel, exc.reason, str(exc))
            if exc.reason in FATAL_REASONS and self.fatal is None:
                self.fatal = exc
                tg.cancel_scope.cancel()
            return
        self.downloaded += 1
        self.pending_rows.append((result, job.urls.key))
        self.emit("file_done", file_id=job.file_id, path=rel, size=result.bytes)

    async def flush_periodically(self) -> None:
        while True:
            await anyio.sleep(_FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        rows, self.pending_rows = self.pending_rows, []
        if not rows:
            return
        try:
            # Shielded: these rows are no longer pending, and a cancellation landing while
            # the write waits for its lock (the periodic flush as the run ends) would lose
            # them, leaving archived files the manifest does not know.
            with anyio.CancelScope(shield=True):
                await self.manifest.record(rows)
        except (sqlite3.Error, OSError) as exc:
            full = "full" in str(exc).lower() or getattr(exc, "errno", None) == errno.ENOSPC
            raise ArchiveError(
                f"cannot write the manifest in {self.state_dir!r}: {exc}",
                reason="disk_full" if full else "manifest_error",
            ) from exc

    # -- helpers ----------------------------------------------------------------------

    async def _complete_on_disk(self, files: Sequence[RemoteFile]) -> dict[str, str]:
        """Files recorded by an earlier run whose file still has its recorded size."""
        known = [(f.id, entry) for f in files if (entry := self.manifest.lookup(f.id))]
        if not known:
            return {}
        root = self.dest

        def check() -> tuple[dict[str, str], list[str]]:
            present: dict[str, str] = {}
            missing: list[str] = []
            for file_id, (rel, size) in known:
                try:
                    ok = os.stat(os.path.join(root, rel)).st_size == size
                except OSError:
                    ok = False
                if ok:
                    present[file_id] = rel
                else:
                    missing.append(file_id)
            return present, missing

        present, missing = await anyio.to_thread.run_sync(check)
        if missing:
            await self.manifest.forget(missing)
        for file_id, rel in present.items():
            self.claimed[rel.casefold()] = file_id
        return present

    def _path_for(self, file: RemoteFile) -> str:
        fields = dict(file.fields)
        ext = fields.get("ext") or extension_for(file.mime_type, file.url)
        fields["ext"] = ext
        fields.setdefault("id", file.id)
        fields["variant"] = file.variant
        rel = render_path(self.template, fields)
        if file.variant != "original" and not self.template_has_variant:
            rel = _insert_before_ext(rel, ext, f".{file.variant}")
        candidate = rel
        while True:
            key = candidate.casefold()
            owner = self.claimed.get(key) or self.manifest.owner(candidate)
            if owner is None or owner == file.id:
                self.claimed[key] = file.id
                return candidate
            tag = hashlib.sha256(f"{file.id}|{candidate}".encode()).hexdigest()[:8]
            candidate = _insert_before_ext(rel, ext, f"~{tag}")

    def _api_calls(self) -> int:
        # The client's session counts every call (listing pages and retries included);
        # a custom source without a client counts its batch fetches.
        now = _session_calls(self.api_counter)
        if now is not None and self.api_calls_before is not None:
            return now - self.api_calls_before
        return self.fetches

    def report(self) -> ArchiveReport:
        return ArchiveReport(
            downloaded=self.downloaded,
            skipped=self.skipped,
            failed=list(self.failed),
            bytes=self.bytes_done,
            elapsed=time.monotonic() - self.started,
            api_calls=self._api_calls(),
            dest=self.dest,
        )


def _batch_name(batch: Batch) -> str:
    """``photo request pr_1`` or ``smart link sl_1`` (a custom source's batch by its key)."""
    kind = getattr(batch, "kind", None)
    label = {"photo_request": "photo request", "smart_link": "smart link"}.get(str(kind), "batch")
    return f"{label} {batch.key}"


def _both(first: ProgressCallback, second: ProgressCallback | None) -> ProgressCallback:
    if second is None:
        return first

    def both(event: ProgressEvent) -> None:
        first(event)
        second(event)

    return both


def _session_calls(counter: Any) -> int | None:
    value = getattr(counter, "api_calls", None)
    return value if isinstance(value, int) else None


def _insert_before_ext(rel: str, ext: str, tag: str) -> str:
    if ext and rel.endswith(ext):
        return rel[: -len(ext)] + tag + ext
    return rel + tag


def _expected_size(file: RemoteFile) -> int:
    if file.size is not None:
        return file.size
    if file.size_kb is not None:
        return int(file.size_kb * 1024)
    return 0


@contextlib.contextmanager
def _exclusive(state_dir: str) -> Iterator[None]:
    """Hold an exclusive lock on ``dest`` for the run (POSIX; a no-op elsewhere)."""
    path = os.path.join(state_dir, "lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ArchiveError(
                    "another archive run is writing to this destination",
                    reason="destination_busy",
                ) from None
        yield
    finally:
        os.close(fd)


def _prepare(dest: str) -> tuple[str, str]:
    """Create dest, its state folder and an empty temp folder; return (state, tmp)."""
    state_dir = os.path.join(dest, STATE_DIR)
    tmp_dir = os.path.join(state_dir, "tmp")
    try:
        os.makedirs(tmp_dir, exist_ok=True)
        # Unique per run: runs in one process (shared_dest jobs) must not remove each other's.
        probe = os.path.join(tmp_dir, f".probe-{os.getpid()}-{secrets.token_hex(4)}")
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write to the destination {dest!r}: {exc.strerror or exc}",
            reason="destination_not_writable",
        ) from exc
    return state_dir, tmp_dir


def _clean_tmp(tmp_dir: str) -> None:
    """Remove temp files left by a run that was killed."""
    with os.scandir(tmp_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)


async def archive(
    client: ArchiveClient | None,
    dest: str | os.PathLike[str],
    *,
    photo_requests: Iterable[str] = (),
    smart_links: Iterable[str] = (),
    status: str | None = None,
    created_after: dt.datetime | str | None = None,
    created_before: dt.datetime | str | None = None,
    is_active: bool | None = None,
    tags: Sequence[str] | None = None,
    source: Source | None = None,
    concurrency: int = 16,
    variant: Variant = "original",
    template: str = DEFAULT_TEMPLATE,
    sidecar: bool = False,
    fsync: bool = False,
    on_progress: ProgressCallback | None = None,
    progress: bool = False,
    lookahead: int = 4,
    refresh_margin: float = 60.0,
    max_attempts: int = 5,
    backoff: float = 0.25,
    read_timeout: float = 60.0,
    file_timeout: float | None = None,
    chunk_size: int = 512 * 1024,
    http: aiohttp.ClientSession | None = None,
    transport: StorageTransport | None = None,
    settings: FetchSettings | None = None,
    shared_dest: bool = False,
) -> ArchiveReport:
    """Archive photos (or any signed-URL files) into ``dest``, incrementally and safely.

    Without ``source``, the files come from Visiono: the given photo request and smart
    link ids, plus the photo requests matching ``status``/``created_after``/
    ``created_before`` and the smart links matching ``is_active``/``tags``. With no ids and
    no filters at all, every photo request and smart link is archived.

    Args:
        client: A ``VisionoClient`` (its connection pool is reused; storage requests carry
            no API key). May be ``None`` with a custom ``source``.
        dest: The destination folder; created if missing. Holds ``.visiono/`` (manifest,
            lock, temp files).
        photo_requests: Photo request ids to archive.
        smart_links: Smart link ids to archive.
        status: Also archive the photo requests with this status.
        created_after: Also archive photo requests created after this (datetime or ISO).
        created_before: Also archive photo requests created before this.
        is_active: Also archive the smart links with this active flag.
        tags: Also archive the smart links with these tags.
        source: A custom source; replaces the Visiono selection above.
        concurrency: Files downloaded at the same time.
        variant: ``"original"``, ``"thumbnail"`` or ``"both"``.
        template: The naming template; fields are ``photo_request_id``, ``smart_link_id``,
            ``item_id``, ``submission_id``, ``unique_value``, ``full_name``, ``variant``,
            ``id`` and ``ext`` (with its dot). Thumbnails get ``.thumbnail`` before the
            extension unless the template uses ``{variant}``.
        sidecar: Also write ``<file>.json`` with the submission's metadata.
        fsync: ``fsync`` every file before its rename (slower, crash-proof).
        on_progress: Called with a ``ProgressEvent`` as things happen.
        progress: Show a progress bar on stderr (rich on a terminal, plain lines otherwise).
        lookahead: ``download-urls`` calls (batch fetches) in flight at once, ahead of the
            downloads; fetching pauses while a few rounds of ``concurrency`` files wait.
        refresh_margin: Seconds of validity a URL needs when its file starts.
        max_attempts: Attempts per file on connection errors, cut bodies and 5xx.
        backoff: The first retry delay in seconds (doubled per attempt, with jitter).
        read_timeout: Seconds without a byte from storage before an attempt fails (for
            the transport the run makes; one passed in has its own).
        file_timeout: Seconds one file may take, all attempts together; past it the file
            fails with reason ``timeout`` (a slow drip never trips ``read_timeout``).
        chunk_size: Bytes per write to disk.
        http: An ``aiohttp.ClientSession`` to fetch from storage with (a proxy, your own
            connector or tracing): short for ``transport=AiohttpTransport(http)``. By
            default storage is fetched with the pipeline's own lean HTTP/1.1 client
            (``LeanTransport``: keep-alive, HTTPS, redirects; a fraction of aiohttp's cost
            per request), or with the session given to ``VisionoClient(http_session=)``.
        transport: The ``StorageTransport`` that fetches from storage (``LeanTransport``,
            ``AiohttpTransport`` or your own); it stays yours, open after the run. Takes
            precedence over ``http``.
        settings: Full fetch settings; overrides the individual tuning options.
        shared_dest: Let other runs (processes on this host, e.g. queue workers) archive
            into ``dest`` at the same time: each file is claimed before it is fetched, so
            none is fetched by two runs at once or written twice, and each is recorded in
            the manifest before its claim is let go. An exclusive run (the default) still
            refuses to start beside shared ones, and they beside it. POSIX only.

    Returns:
        The report: downloaded, skipped, failed (with reasons), bytes, elapsed, API calls.

    Raises:
        ArchiveError: The destination is not writable, the disk filled up, or another run
            holds ``dest``. Temp files are removed and the manifest records everything that
            was archived; ``report`` tells what happened before the stop.
        AuthenticationError: The API key was rejected.
        PermissionDeniedError: The key lacks a scope (``download_urls:read``).
        APIError: A listing call failed.
        ValueError: ``concurrency`` below 1, an unknown ``variant``, a naming template
            with more than plain field names (or, without ``source``, a field Visiono
            photos do not have, such as ``{nope}``), or neither a client nor a source.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, not {variant!r}")
    template_fields(template)  # a bad template fails here, before anything is touched
    if source is None:
        validate_template(template)  # Visiono files carry known fields: {nope} is a typo
        if client is None:
            raise ValueError("archive needs a client, or a custom source")
        from ._visiono import VisionoSource

        source = VisionoSource(
            client,
            photo_requests=photo_requests,
            smart_links=smart_links,
            status=status,
            created_after=created_after,
            created_before=created_before,
            is_active=is_active,
            tags=tags,
            variants=_VARIANTS[variant],
        )
    fetch_settings = settings or FetchSettings(
        chunk_size=chunk_size,
        max_attempts=max_attempts,
        backoff=backoff,
        refresh_margin=refresh_margin,
        read_timeout=read_timeout,
        file_timeout=file_timeout,
        fsync=fsync,
    )
    root = await anyio.to_thread.run_sync(os.path.abspath, os.fspath(dest))
    state_dir, tmp_dir = await anyio.to_thread.run_sync(_prepare, root)
    async with contextlib.AsyncExitStack() as stack:
        shared: SharedDestination | None = None
        if shared_dest:
            shared = await SharedDestination.open(state_dir)
            stack.callback(shared.close)
            tmp_dir = shared.tmp_dir
        else:
            stack.enter_context(_exclusive(state_dir))
        if progress:
            bar = terminal_progress()
            stack.callback(bar.close)
            on_progress = _both(bar, on_progress)
        if shared is None:
            await anyio.to_thread.run_sync(_clean_tmp, tmp_dir)
        storage = await _storage_transport(
            stack, client, http, transport, fetch_settings, concurrency
        )
        io = IOThreads(_IO_THREADS)
        stack.callback(io.close)
        manifest = await Manifest.open(state_dir)
        run = _Run(
            source=source,
            dest=root,
            state_dir=state_dir,
            manifest=manifest,
            ctx=FetchContext(
                storage,
                root,
                tmp_dir,
                fetch_settings,
                on_bytes=lambda _n: None,
                io=io,
            ),
            variants=_VARIANTS[variant],
            template=template,
            sidecar=sidecar,
            on_progress=on_progress,
            ahead_limit=max(4 * concurrency, 32),
            shared=shared,
        )
        run.ctx.on_bytes = run.on_bytes
        if client is not None:
            run.api_counter = getattr(client, "session", None)
            run.api_calls_before = _session_calls(run.api_counter)
        try:
            await _run_stages(run, concurrency=concurrency, lookahead=max(1, lookahead))
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await run.flush()
                finally:
                    await manifest.aclose()
        report = run.report()
        run.emit("finished")
        if run.fatal is not None:
            raise ArchiveError(
                f"archive stopped: {run.fatal}",
                reason=run.fatal.reason,
                report=report,
                submission_id=run.fatal.submission_id,
            )
        return report
    raise AssertionError("unreachable")  # pragma: no cover


async def _storage_transport(
    stack: contextlib.AsyncExitStack,
    client: ArchiveClient | None,
    http: aiohttp.ClientSession | None,
    transport: StorageTransport | None,
    settings: FetchSettings,
    concurrency: int,
) -> StorageTransport:
    """The transport the caller chose for storage, else the pipeline's own lean one."""
    if transport is not None:
        return transport
    if http is None and client is not None:
        if client.storage_transport is not None:  # VisionoClient(storage_transport=...)
            return client.storage_transport
        http = client.http_session  # the caller's own session: their TLS, their tracing
    proxy = client.config.proxy if client is not None else ProxySettings.create()
    # Bytes held per transfer before reading pauses: a chunk, capped, twice over.
    buffer_limit = 2 * min(settings.chunk_size, 1 << 20)
    if http is not None:
        return AiohttpTransport(
            http,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            buffer_limit=buffer_limit,
            proxy=proxy,
        )
    return await stack.enter_async_context(
        LeanTransport(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            buffer_limit=buffer_limit,
            max_idle=concurrency * 2,
            handoff_min=_HANDOFF_BYTES,
            proxy=proxy,
        )
    )


async def _run_stages(run: _Run, *, concurrency: int, lookahead: int) -> None:
    async with anyio.create_task_group() as outer:
        outer.start_soon(_guard, run, outer, run.flush_periodically)
        async with anyio.create_task_group() as tg:
            batches_send, batches_recv = anyio.create_memory_object_stream[Batch](0)
            # Bounded by files (ahead_limit), not by this buffer, which only caps the count
            # of empty or tiny batches waiting.
            fetched_send, fetched_recv = anyio.create_memory_object_stream[BatchURLs](64)
            jobs_send, jobs_recv = anyio.create_memory_object_stream[_Job](concurrency)
            tg.start_soon(_guard, run, tg, run.list_batches, batches_send)
            async with batches_recv, fetched_send:
                for _ in range(lookahead):
                    tg.start_soon(
                        _guard,
                        run,
                        tg,
                        run.fetch_batches,
                        batches_recv.clone(),
                        fetched_send.clone(),
                    )
            tg.start_soon(_guard, run, tg, run.dispatch, fetched_recv, jobs_send)
            async with jobs_recv:
                for _ in range(concurrency):
                    tg.start_soon(_guard, run, tg, run.work, jobs_recv.clone(), tg)
        outer.cancel_scope.cancel()
    if run.error is not None:
        # Raised as itself, not wrapped in an exception group: callers catch APIError.
        raise run.error


async def _guard(
    run: _Run, tg: TaskGroup, stage: Callable[..., Awaitable[None]], *args: Any
) -> None:
    """Run a stage; its first error stops the run (cancellation passes through untouched)."""
    try:
        await stage(*args)
    except Exception as exc:
        if run.error is None:
            run.error = exc
        tg.cancel_scope.cancel()


@attrs.define(eq=False)
class ArchiveEvents:
    """The progress events of a running archive, as an async iterator.

    Returned by ``iter_archive``; ``report`` is set once the iteration has finished.
    """

    _receive: MemoryObjectReceiveStream[ProgressEvent]
    report: ArchiveReport | None = None

    def __aiter__(self) -> ArchiveEvents:
        return self

    async def __anext__(self) -> ProgressEvent:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


@contextlib.asynccontextmanager
async def iter_archive(
    client: ArchiveClient | None, dest: str | os.PathLike[str], **options: Any
) -> AsyncIterator[ArchiveEvents]:
    """Run ``archive`` in the background and iterate over its progress events.

    Example::

        async with iter_archive(client, "photos/", photo_requests=[pr_id]) as events:
            async for event in events:
                if event.kind == "file_done":
                    print(event.path)
        print(events.report)

    Args:
        client: As for ``archive``.
        dest: As for ``archive``.
        **options: Any keyword option of ``archive`` except ``on_progress``.

    Yields:
        The events; ``report`` is filled in when the run ends. Leaving the block early
        cancels the run.
    """
    send, receive = anyio.create_memory_object_stream[ProgressEvent](math.inf)
    events = ArchiveEvents(receive)

    async def run() -> None:
        with send:
            events.report = await archive(client, dest, on_progress=send.send_nowait, **options)

    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(run)
        try:
            yield events
        except BaseException:
            tg.cancel_scope.cancel()
            raise
        else:
            if events.report is None:
                tg.cancel_scope.cancel()
