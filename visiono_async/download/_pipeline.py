"""The orchestration of an archive run.

Stages, joined by bounded memory object streams so that memory stays flat however many
files there are, data flowing one way::

    list -> sign -> plan -> fetch -> finish -> record -> report
    (source)  (``lookahead`` tasks)  (``concurrency``   (``_finish``: group    (``_Tally``)
                                      workers)           commit in a thread)

*list* pulls batches from the source; *sign* fetches a batch's URLs (``download-urls``)
and *plan* skips what is complete, reconciles what is on disk, and names the rest; *fetch*
streams a file into its temp file (``_fetch``); *finish* and *record* close it, commit its
manifest row and give it its final name (``_finish``); the tally counts and reports.
URLs are fetched just in time: the planned files wait in a stream of a few rounds of
``concurrency``, and a full stream holds the signing tasks back, so URLs are fresh when
used and downloads never wait for the API.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import os
import time
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from typing import Any, Literal, Protocol

import aiohttp
import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._config import ClientConfig, RetryPolicy
from .._exceptions import (
    AuthenticationError,
    DownloadError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from .._proxy import ProxySettings
from .._selection import Selection, resolve_selection
from ._aiohttp import AiohttpTransport
from ._budget import ApiBudget
from ._claims import SharedDestination
from ._destination import Destination, clean_tmp, lock_exclusive, prepare
from ._fetch import (
    FATAL_REASONS,
    FetchContext,
    FetchSettings,
    Target,
    download_retry,
    fetch_file,
    redact_url,
)
from ._finish import Finisher, Finishing
from ._http import LeanTransport
from ._manifest import STATE_CHANGED, Manifest
from ._paths import (
    DEFAULT_TEMPLATE,
    extension_for,
    render_path,
    template_fields,
    validate_template,
)
from ._progress import ProgressCallback, ProgressEvent, ProgressKind, terminal_progress
from ._reconcile import reconcile
from ._record import ArchivedFile, naming_fields
from ._refresh import BatchURLs
from ._report import ArchiveError, ArchiveReport, FailedFile
from ._source import Batch, RemoteFile, Source
from ._threads import IOThreads
from ._transport import StorageTransport

__all__ = ["ArchiveClient", "Variant", "archive"]

Variant = Literal["original", "thumbnail", "both"]
_VARIANTS: dict[str, frozenset[str]] = {
    "original": frozenset({"original"}),
    "thumbnail": frozenset({"thumbnail"}),
    "both": frozenset({"original", "thumbnail"}),
}
_ANNOUNCE_WAITS = 1.0
"""Client waits (pacing, backoff) from this many seconds on become ``"waiting"`` events."""
_ROOM_PER_WORKER = 4
"""Files each fetch worker may have waiting to be finished (the finisher's room is this
times ``concurrency``). With room for only one each, a group in its thread held every
worker back until it was done, so fetching and finishing took turns; with four, the next
group gathers while one is in its thread. 2000 x 30 KiB on loopback, medians of 8 runs
interleaved: 0.88 s with one each, 0.76 s with four. What waits is bounded: a waiting
file holds at most its last unwritten ``chunk_size`` (512 KiB by default; a body from
``_HANDOFF_BYTES`` on streams to its file and holds nothing)."""
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


class _Tally:
    """The report stage: counts, failures and progress events of one run."""

    def __init__(
        self, dest: str, on_progress: ProgressCallback | None, selection: Selection | None
    ) -> None:
        self.dest = dest
        self.on_progress = on_progress
        self.selection = selection
        self.files_total = 0
        self.listing = True  # more batches may still add to files_total
        self.batches_failed = 0
        self.downloaded = 0
        self.skipped = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.failed: list[FailedFile] = []
        self.fetches = 0
        self.started = time.monotonic()
        self.api_calls_before: int | None = None
        self.api_counter: Any = None
        self.waited = 0.0

    def emit(
        self,
        kind: ProgressKind,
        *,
        file_id: str | None = None,
        path: str | None = None,
        size: int = 0,
        message: str | None = None,
        until: dt.datetime | None = None,
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
                until=until,
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

    def on_archived(self, archived: ArchivedFile) -> None:
        """A file is under its final name with its row: count it (the finisher calls)."""
        self.downloaded += 1
        self.emit("file_done", file_id=archived.file.id, path=archived.path, size=archived.bytes)

    def on_waiting(self, until: dt.datetime, message: str) -> None:
        """The run waits (the API budget, the client's pacing) until ``until``."""
        self.emit("waiting", message=message, until=until)

    def on_client_wait(self, notice: Any) -> None:
        """A wait the client announces (``WaitNotice``); the long ones become events."""
        if notice.seconds >= _ANNOUNCE_WAITS:
            reason = str(notice.reason).replace("_", " ")
            self.on_waiting(notice.until, f"{reason} before {notice.method} {notice.path}")

    def on_skipped(self, file_id: str, path: str) -> None:
        self.skipped += 1
        self.emit("file_skipped", file_id=file_id, path=path)

    def fail(self, who: str, path: str | None, reason: str, message: str) -> None:
        self.failed.append(FailedFile(who, path, reason, message))
        self.emit("file_failed", file_id=who, path=path, message=f"{reason}: {message}")

    def fail_batch(self, who: str, reason: str, message: str) -> None:
        """A batch that could not be listed: reported, not counted among failed files."""
        self.batches_failed += 1
        self.fail(who, None, reason, message)

    def count_api_calls(self, client: ArchiveClient | None) -> None:
        if client is not None:
            self.api_counter = getattr(client, "session", None)
            self.api_calls_before = _session_calls(self.api_counter)

    def _api_calls(self) -> int:
        # The client's session counts every call (listing pages and retries included);
        # a custom source without a client counts its batch fetches.
        now = _session_calls(self.api_counter)
        if now is not None and self.api_calls_before is not None:
            return now - self.api_calls_before
        return self.fetches

    def report(self) -> ArchiveReport:
        return ArchiveReport(
            waited=self.waited,
            downloaded=self.downloaded,
            skipped=self.skipped,
            failed=list(self.failed),
            bytes=self.bytes_done,
            elapsed=time.monotonic() - self.started,
            api_calls=self._api_calls(),
            dest=self.dest,
            selection=self.selection,
        )


class _Run:
    """The stages of one run, from the source's batches to files handed to the finisher."""

    def __init__(
        self,
        *,
        source: Source,
        dest: Destination,
        manifest: Manifest,
        tally: _Tally,
        budget: ApiBudget,
        variants: frozenset[str],
        template: str,
        sidecar: bool,
        limiter: anyio.CapacityLimiter,
        shared: SharedDestination | None = None,
    ) -> None:
        self.shared = shared
        self.source = source
        self.budget = budget
        self.dest = dest
        self.manifest = manifest
        self.tally = tally
        self.limiter = limiter
        self.variants = variants
        self.template = template
        self.template_has_variant = "variant" in template_fields(template)
        self.sidecar = sidecar
        self.listener_room = _LISTENER_ROOM.get()
        self.claimed: dict[str, str] = {}
        self.fatal: DownloadError | None = None
        self.error: Exception | None = None
        self.fetching: anyio.CancelScope | None = None
        """The fetch stage's scope: a fatal failure (a full disk) cancels it."""

    # -- stages -----------------------------------------------------------------------

    async def list_batches(self, send: MemoryObjectSendStream[Batch]) -> None:
        """list: the source's batches, pulled as the next stage has room."""
        async with send:
            async for batch in self.source.batches():
                try:
                    await send.send(batch)
                except anyio.BrokenResourceError:
                    return  # the signing tasks stopped (the API budget): list no further
        self.tally.listing = False

    async def sign_and_plan(
        self,
        receive: MemoryObjectReceiveStream[Batch],
        send: MemoryObjectSendStream[_Job],
    ) -> None:
        """One of ``lookahead`` tasks: sign a batch, plan its files, hand them on.

        ``send`` is bounded by files (a few rounds of ``concurrency``): while it is full,
        no further batch is signed, so URLs are fetched just in time.
        """
        async with receive, send:
            async for batch in receive:
                urls = await self.sign(batch)
                if urls is not None:
                    await self.plan(urls, send)
                if self.budget.stopped is not None:
                    return  # past max_wait: the files already signed still download

    async def sign(self, batch: Batch) -> BatchURLs | None:
        """sign: the batch's URLs (``None`` when the batch failed: reported).

        A call refused for the rate limit waits for the budget and is sent again.
        """
        while True:
            urls = BatchURLs(batch, on_fetch=self.tally.on_fetch)
            try:
                await urls.refresh(0)
            except RateLimitError as exc:
                waited = await self.budget.wait(exc, batch.key)
                self.tally.waited = self.budget.waited
                if not waited:
                    return None
                continue
            except (AuthenticationError, PermissionDeniedError):
                raise
            except NotFoundError:
                self.tally.fail_batch(batch.key, "not_found", f"{_batch_name(batch)}: not found")
                return None
            except Exception as exc:
                self.tally.fail_batch(batch.key, "batch_failed", f"{type(exc).__name__}: {exc}")
                return None
            return urls

    async def plan(self, urls: BatchURLs, send: MemoryObjectSendStream[_Job]) -> None:
        """plan: skip what is complete, reconcile what is on disk, name the rest."""
        tally = self.tally
        state = _BatchState(urls)
        files = [f for f in urls.files() if f.variant in self.variants]
        tally.files_total += len(files)
        tally.emit("batch", message=urls.key)
        recorded = {f.id for f in files if self.manifest.lookup(f.id) is not None}
        complete = await self._complete_on_disk(files)
        todo = [(f, self._path_for(f)) for f in files if f.id not in complete]
        # Only files the manifest never knew: a recorded one that is gone or changed is
        # fetched again, never taken back from what is on disk.
        found = await self._reconcile(
            urls.key, [(f, rel) for f, rel in todo if f.id not in recorded]
        )
        for file, rel in todo:
            if file.id in found:
                complete[file.id] = rel
        for file in files:
            if file.id in complete:
                tally.on_skipped(file.id, complete[file.id])
        try:
            for file, rel in todo:
                if file.id in complete:
                    continue
                tally.bytes_total += _expected_size(file)
                state.outstanding += 1
                rename = None if extension_for(file.mime_type, file.url) else self._path_for
                job = _Job(urls, file.id, Target(rel, self.sidecar, rename), state)
                try:
                    # A waiting worker takes it at once: skip send()'s extra round trip
                    # through the event loop, which is a visible cost per small file.
                    send.send_nowait(job)
                except anyio.WouldBlock:
                    await send.send(job)
        finally:
            state.finish_dispatch()

    async def work(self, ctx: FetchContext, receive: MemoryObjectReceiveStream[_Job]) -> None:
        """fetch: one worker; each file goes on to the finisher once its bytes are in, and
        the worker to its next file (the finisher reports how the file ended)."""
        async with receive:
            while True:
                if self.listener_room is not None:
                    await self.listener_room()  # a slow event reader holds the run back
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
                    await self._one(ctx, job)
                finally:
                    job.state.done_one()

    async def _one(self, ctx: FetchContext, job: _Job) -> None:
        rel = job.target.rel_path
        self.tally.emit("file_started", file_id=job.file_id, path=rel)
        try:
            if self.shared is None:
                await fetch_file(ctx, job.urls, job.file_id, job.target)
            else:
                # shared_dest: one run at a time per file; fetch_file returns once the
                # file's row is committed, so it is recorded before the claim is let go.
                async with self.shared.claim(job.file_id) as archived:
                    if archived is not None:
                        self.tally.on_skipped(job.file_id, archived[0])
                        return
                    await fetch_file(ctx, job.urls, job.file_id, job.target)
        except DownloadError as exc:
            who = exc.submission_id or job.file_id
            self.tally.fail(who, rel, exc.reason, str(exc))
            self._stop_if_fatal(exc)

    def finish_failed(self, item: Finishing) -> None:
        """record: a file the finisher could not finish (its worker has moved on)."""
        assert item.failure is not None
        reason, message = item.failure
        exc = DownloadError(
            message,
            reason=reason,
            url=redact_url(item.file.url),
            submission_id=item.file.known("submission_id"),
        )
        self.tally.fail(exc.submission_id or item.file.id, item.rel_path, reason, message)
        self._stop_if_fatal(exc)

    def _stop_if_fatal(self, exc: DownloadError) -> None:
        """A reason that would fail every following file too stops the fetches."""
        if exc.reason in FATAL_REASONS and self.fatal is None:
            self.fatal = exc
            if self.fetching is not None:
                self.fetching.cancel()

    # -- helpers ----------------------------------------------------------------------

    async def _complete_on_disk(self, files: Sequence[RemoteFile]) -> dict[str, str]:
        """Files recorded by an earlier run whose file still has its recorded size."""
        known = [(f.id, entry) for f in files if (entry := self.manifest.lookup(f.id))]
        if not known:
            return {}
        root = self.dest.root

        def check() -> tuple[dict[str, str], list[str]]:
            present: dict[str, str] = {}
            missing: list[str] = []
            for file_id, entry in known:
                if entry.state == STATE_CHANGED:
                    continue  # ``verify`` found it changed: fetched again, over it
                try:
                    ok = os.stat(os.path.join(root, entry.path)).st_size == entry.bytes
                except OSError:
                    ok = False
                if ok:
                    present[file_id] = entry.path
                else:
                    missing.append(file_id)
            return present, missing

        present, missing = await anyio.to_thread.run_sync(check, limiter=self.limiter)
        if missing:
            await self.manifest.forget(missing)
        for file_id, rel in present.items():
            self.claimed[rel.casefold()] = file_id
        return present

    async def _reconcile(self, batch: str, todo: list[tuple[RemoteFile, str]]) -> set[str]:
        """Files without a row found under their name, whose bytes match the source:
        recorded, not fetched (a manifest rebuilt, a run killed). Returns their ids."""
        # Only where files were before the run began: no thread job per batch (and no
        # look at the disk) for the new folders of a fresh archive.
        todo = [(f, rel) for f, rel in todo if self.dest.predates_run(rel)]
        if not todo:
            return set()
        found = await anyio.to_thread.run_sync(
            reconcile, self.dest.root, self.manifest, batch, todo, limiter=self.limiter
        )
        self.manifest.note(found)
        return {a.file.id for a in found}

    def _path_for(self, file: RemoteFile) -> str:
        ext = extension_for(file.mime_type, file.url)
        fields = naming_fields(file, ext)
        ext = fields["ext"]
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


async def archive(
    client: ArchiveClient | None,
    dest: str | os.PathLike[str],
    selection: Selection | None = None,
    *,
    photo_requests: Iterable[str] | None = None,
    smart_links: Iterable[str] | None = None,
    status: str | None = None,
    created_after: dt.datetime | dt.date | str | None = None,
    created_before: dt.datetime | dt.date | str | None = None,
    is_active: bool | None = None,
    tags: Iterable[str] | None = None,
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
    retry: RetryPolicy | None = None,
    max_attempts: int | None = None,
    backoff: float | None = None,
    read_timeout: float = 60.0,
    file_timeout: float | None = None,
    chunk_size: int = 512 * 1024,
    http: aiohttp.ClientSession | None = None,
    transport: StorageTransport | None = None,
    settings: FetchSettings | None = None,
    max_wait: float | None = None,
    shared_dest: bool = False,
) -> ArchiveReport:
    """Archive photos (or any signed-URL files) into ``dest``, incrementally and safely.

    Without ``source``, the files come from Visiono, as ``selection`` chooses: the photo
    request and smart link ids it names, plus the photo requests its ``status``/
    ``created_after``/``created_before`` list and the smart links its ``is_active``/
    ``tags`` list. With no selection (or ``Selection()``), every photo request and smart
    link is archived. The flat keywords are its shorthand::

        await archive(client, "photos/", Selection(status="submitted"))
        await archive(client, "photos/", status="submitted")      # the same

    Args:
        client: A ``VisionoClient`` (its connection pool is reused; storage requests carry
            no API key). May be ``None`` with a custom ``source``.
        dest: The destination folder; created if missing. Holds ``.visiono/`` (manifest,
            lock, temp files).
        selection: What to archive; the report's ``selection`` says it back.
        photo_requests: Shorthand for ``Selection(photo_requests=...)``: ids to archive.
        smart_links: Shorthand: smart link ids to archive.
        status: Shorthand: also the photo requests with this status.
        created_after: Shorthand: also the photo requests created after this (an aware
            datetime or ISO 8601; naive means UTC).
        created_before: Shorthand: also the photo requests created before this.
        is_active: Shorthand: also the smart links with this active flag.
        tags: Shorthand: also the smart links with any of these tags.
        source: A custom source; replaces the Visiono selection (and cannot be given
            with it).
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
        retry: The retry policy of file fetches, the ``RetryPolicy`` API calls use
            (``DOWNLOAD_RETRY`` by default: 5 attempts, 0.25 s doubling up to 8 s, every
            5xx, 408, 425 and 429). Its ``retry_statuses`` choose which storage answers
            are retried; connection errors and cut bodies always are (see
            ``FetchSettings``). API calls keep the client's own policy.
        max_attempts: Shorthand for ``retry``: attempts per file (``max_retries + 1``).
        backoff: Shorthand for ``retry``: the first backoff ceiling in seconds
            (``backoff_base``; doubled per attempt, full jitter).
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
        settings: Full fetch settings, instead of the individual options it holds
            (``chunk_size``, ``refresh_margin``, ``read_timeout``, ``file_timeout``,
            ``fsync``, and ``retry``/``max_attempts``/``backoff`` as ``settings.retry``):
            any of those given with it, other than at its default, is a ``TypeError``
            rather than silently ignored.
        max_wait: Seconds the run may wait in all for the API budget (past the hourly
            limit, ``download-urls`` calls are refused until the window resets; the run
            waits, saying so in ``"waiting"`` events and ``report.waited``, while the
            files already signed download). ``None``: wait as long as it takes. A wait
            past it stops the run cleanly: ``ArchiveError`` with reason ``api_budget``,
            everything archived so far recorded; a re-run resumes.
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
        TypeError: ``template`` not a string; ``selection`` and a flat keyword of it,
            ``source`` and a selection, ``retry`` and ``max_attempts``/``backoff``, or
            ``settings`` and any of the options it holds, given together; a single string
            for ``photo_requests``, ``smart_links`` or ``tags``.
        ValueError: ``concurrency`` below 1, ``max_attempts`` below 1, an unknown
            ``variant``, a naming template with more than plain field names (or, without
            ``source``, a field Visiono photos do not have, such as ``{nope}``), a bad
            selection (see ``Selection``), or neither a client nor a source.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if max_wait is not None and max_wait < 0:
        raise ValueError("max_wait must be >= 0 (or None to wait as long as it takes)")
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, not {variant!r}")
    if not isinstance(template, str):  # client.archive(template=None) once meant the default
        raise TypeError(
            f"template must be a str, got {type(template).__name__}: leave it out for "
            "DEFAULT_TEMPLATE"
        )
    template_fields(template)  # a bad template fails here, before anything is touched
    chosen = resolve_selection(
        selection,
        photo_requests=photo_requests,
        smart_links=smart_links,
        status=status,
        created_after=created_after,
        created_before=created_before,
        is_active=is_active,
        tags=tags,
    )
    if settings is not None:
        _refuse_with_settings(
            retry=retry,
            max_attempts=max_attempts,
            backoff=backoff,
            chunk_size=chunk_size,
            refresh_margin=refresh_margin,
            read_timeout=read_timeout,
            file_timeout=file_timeout,
            fsync=fsync,
        )
    policy = download_retry(retry, max_attempts=max_attempts, backoff=backoff)
    if source is not None:
        if selection is not None or not chosen.everything:
            raise TypeError(
                f"source= replaces the Visiono selection: pass one or the other, not "
                f"source= and {chosen!r}"
            )
    else:
        validate_template(template)  # Visiono files carry known fields: {nope} is a typo
        if client is None:
            raise ValueError("archive needs a client, or a custom source")
        from ._visiono import VisionoSource

        source = VisionoSource(client, chosen, variants=_VARIANTS[variant])
    fetch_settings = settings or FetchSettings(
        chunk_size=chunk_size,
        retry=policy,
        refresh_margin=refresh_margin,
        read_timeout=read_timeout,
        file_timeout=file_timeout,
        fsync=fsync,
    )
    fetch_settings = _with_source_traits(fetch_settings, source)
    root = await anyio.to_thread.run_sync(os.path.abspath, os.fspath(dest))
    selected = getattr(source, "selection", None)  # a VisionoSource's (a custom one: None)
    tally = _Tally(root, on_progress, selected if isinstance(selected, Selection) else None)
    tally.count_api_calls(client)
    try:
        async with contextlib.AsyncExitStack() as stack:
            destination = await anyio.to_thread.run_sync(prepare, root)
            shared: SharedDestination | None = None
            if shared_dest:
                shared = await SharedDestination.open(destination.state_dir)
                stack.push_async_callback(_shielded, anyio.to_thread.run_sync, shared.close)
                destination.tmp_dir = shared.tmp_dir  # this run's own temp folder
            else:
                lock = await anyio.to_thread.run_sync(lock_exclusive, destination.state_dir)
                stack.push_async_callback(_shielded, anyio.to_thread.run_sync, os.close, lock)
            if progress:
                bar = terminal_progress()
                stack.callback(bar.close)
                tally.on_progress = _both(bar, on_progress)
            if shared is None:
                await anyio.to_thread.run_sync(clean_tmp, destination.tmp_dir)
            storage = await _storage_transport(
                stack, client, http, transport, fetch_settings, concurrency
            )
            io = IOThreads(_IO_THREADS)
            # Closed in a thread: shutting the pool down waits for its threads.
            stack.push_async_callback(_shielded, anyio.to_thread.run_sync, io.close)
            manifest = await Manifest.open(destination.state_dir)
            stack.push_async_callback(_shielded, manifest.aclose)
            stack.push_async_callback(
                _shielded, anyio.to_thread.run_sync, clean_tmp, destination.tmp_dir
            )
            limiter = anyio.CapacityLimiter(_IO_THREADS)
            budget = ApiBudget(max_wait, tally.on_waiting)
            add_listener = getattr(client, "add_wait_listener", None)
            if callable(add_listener):
                stack.callback(add_listener(tally.on_client_wait))
            run = _Run(
                source=source,
                dest=destination,
                manifest=manifest,
                tally=tally,
                budget=budget,
                variants=_VARIANTS[variant],
                template=template,
                sidecar=sidecar,
                limiter=limiter,
                shared=shared,
            )
            finisher = Finisher(
                destination,
                manifest,
                fsync=fetch_settings.fsync,
                limiter=limiter,
                on_archived=tally.on_archived,
                on_failed=run.finish_failed,
                room=_ROOM_PER_WORKER * concurrency,
            )
            ctx = FetchContext(
                storage,
                destination.tmp_dir,
                fetch_settings,
                on_bytes=tally.on_bytes,
                io=io,
                limiter=limiter,
                finisher=finisher,
                wait_for_record=shared is not None,
            )
            await _run_stages(
                run,
                ctx,
                finisher,
                concurrency=concurrency,
                lookahead=max(1, lookahead),
                ahead=max(4 * concurrency, 32),
            )
            # A failed manifest is the whole story; a stop for the budget is a clean one.
            fatal = finisher.fatal or run.fatal or budget.stopped
        report = tally.report()
        tally.emit("finished")
        if isinstance(fatal, ArchiveError):
            fatal.report = report
            raise fatal
        if fatal is not None:
            raise ArchiveError(
                f"archive stopped: {fatal}",
                reason=fatal.reason,
                report=report,
                submission_id=fatal.submission_id,
            )
        return report
    except ArchiveError as exc:
        if exc.report is None:
            exc.report = tally.report()
        raise


_TUNING_DEFAULTS: dict[str, object] = {
    "retry": None,
    "max_attempts": None,
    "backoff": None,
    "chunk_size": 512 * 1024,
    "refresh_margin": 60.0,
    "read_timeout": 60.0,
    "file_timeout": None,
    "fsync": False,
}
"""``archive()``'s defaults of the options that ``settings=`` holds."""


def _refuse_with_settings(**given: object) -> None:
    """Raise if an option ``settings=`` holds was given besides it (it would be ignored)."""
    clashing = [f"{name}=" for name, value in given.items() if value != _TUNING_DEFAULTS[name]]
    if clashing:
        raise TypeError(
            f"settings= holds {', '.join(clashing)} (a FetchSettings field each; the retry "
            "options are settings.retry): set them in settings, or pass them without settings="
        )


def _with_source_traits(settings: FetchSettings, source: Source) -> FetchSettings:
    """The settings with what the source declares of itself (``availability_timeout``,
    ``refresh_expensive``), where the settings leave those at their defaults."""
    changes: dict[str, Any] = {}
    availability = getattr(source, "availability_timeout", None)
    if isinstance(availability, (int, float)) and not settings.availability_timeout:
        changes["availability_timeout"] = float(availability)
    if getattr(source, "refresh_expensive", False) is True:
        changes["refresh_expensive"] = True
    return attrs.evolve(settings, **changes) if changes else settings


async def _shielded(func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Clean-up that a cancellation must not cut short."""
    with anyio.CancelScope(shield=True):
        await func(*args)


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


async def _run_stages(
    run: _Run,
    ctx: FetchContext,
    finisher: Finisher,
    *,
    concurrency: int,
    lookahead: int,
    ahead: int,
) -> None:
    """list -> sign -> plan -> fetch -> finish and record, joined by memory streams."""
    async with anyio.create_task_group() as outer:
        outer.start_soon(_guard, run, outer, finisher.run)
        try:
            async with anyio.create_task_group() as tg:
                run.fetching = tg.cancel_scope
                batches_send, batches_recv = anyio.create_memory_object_stream[Batch](0)
                # The look-ahead: planned files waiting for a worker. A full stream holds
                # the signing tasks back.
                jobs_send, jobs_recv = anyio.create_memory_object_stream[_Job](ahead)
                tg.start_soon(_guard, run, tg, run.list_batches, batches_send)
                async with batches_recv, jobs_send:
                    for _ in range(lookahead):
                        tg.start_soon(
                            _guard,
                            run,
                            tg,
                            run.sign_and_plan,
                            batches_recv.clone(),
                            jobs_send.clone(),
                        )
                async with jobs_recv:
                    for _ in range(concurrency):
                        tg.start_soon(_guard, run, tg, run.work, ctx, jobs_recv.clone())
        finally:
            finisher.close_intake()  # the finisher ends once what was handed in is done
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


_LISTENER_ROOM: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = (
    contextvars.ContextVar("visiono_archive_listener_room", default=None)
)
"""Set by ``iter_archive``: workers await it before each file, so a slow reader holds the
run back instead of the events piling up."""
