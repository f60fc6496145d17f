"""The finish-and-record stage: the last write, the manifest row, the final name.

A fetched file's temp file is handed here with its last bytes, and its worker goes on to
its next file: the outcome comes back through ``on_archived`` or ``on_failed`` (a run
sharing its destination waits instead, with :meth:`Finisher.finish`, to hold its claim
until the row is in). At most ``room`` files wait here; past that, workers wait for room,
so a stalled disk holds the fetches back rather than filling memory. Files that arrive
while a group is in a worker thread form the next group (group commit): in one thread
job each is closed and hashed, the group's rows are committed in one transaction, and
only then does each file take its final name (``os.replace``) and its sidecar. So a file under a final
name always has its row, whatever stops the run: a failed commit (full disk, read-only
manifest) renames nothing, and a cancellation waits for the group in flight. A kill
between the commit and a rename leaves a row without its file, which the next run's
``stat`` finds and fetches again.

No file-system call runs on the event loop: group jobs run through ``anyio.to_thread``
under the run's ``CapacityLimiter``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from collections.abc import Callable

import anyio
import attrs
from anyio.streams.memory import MemoryObjectSendStream

from ._destination import Destination
from ._manifest import Manifest
from ._paths import PathOutsideDestinationError
from ._record import ArchivedFile, utc_now
from ._report import ArchiveError
from ._sink import Sink
from ._source import RemoteFile

__all__ = ["Finisher", "Finishing", "write_failure"]

_GROUP_MAX = 256
"""Files per group job at most (one transaction)."""

_WRITE_ERRNOS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "destination_not_writable",
    errno.EACCES: "destination_not_writable",
    errno.EPERM: "destination_not_writable",
    errno.EFBIG: "file_too_large",
    errno.ENAMETOOLONG: "bad_path",
    errno.ENOTDIR: "bad_path",
    errno.EISDIR: "bad_path",
}


def write_failure(exc: BaseException) -> tuple[str, str]:
    """``(reason, message)`` for an error writing a file."""
    if isinstance(exc, PathOutsideDestinationError):
        return "bad_path", str(exc)
    if isinstance(exc, OSError):
        return _WRITE_ERRNOS.get(
            exc.errno or 0, "write_error"
        ), f"cannot write: {exc.strerror or exc}"
    return "write_error", f"cannot write: {exc}"


@attrs.define(eq=False)
class Finishing:
    """A file received into its temp file, on its way to its final name."""

    sink: Sink
    pending: list[bytes]
    file: RemoteFile
    batch: str
    rel_path: str
    sidecar: bool
    mime_type: str | None
    done: anyio.Event | None = None
    """Set once the file is finished; made only for :meth:`Finisher.finish` to wait on."""
    archived: ArchivedFile | None = None
    failure: tuple[str, str] | None = None
    detached: bool = False
    """Handed in with :meth:`Finisher.hand_in`: it holds room, and its failure is reported
    through ``on_failed`` (a caller of :meth:`Finisher.finish` reports its own)."""


class Finisher:
    """Runs the finish-and-record stage; workers hand files in with :meth:`finish`.

    Args:
        dest: The destination (its folders are made and checked here).
        manifest: Where the rows go.
        fsync: ``fsync`` each file before its rename.
        limiter: Bounds the worker threads of the run's file work.
        on_archived: Called on the event loop for each file under its final name, after
            its row is committed (counts it, reports it).
        on_failed: Called on the event loop for each file handed in with
            :meth:`hand_in` that could not be finished (``item.failure`` says why).
        room: Files handed in with :meth:`hand_in` that may wait to be finished.
    """

    def __init__(
        self,
        dest: Destination,
        manifest: Manifest,
        *,
        fsync: bool,
        limiter: anyio.CapacityLimiter,
        on_archived: Callable[[ArchivedFile], None],
        on_failed: Callable[[Finishing], None],
        room: int,
    ) -> None:
        self._dest = dest
        self._manifest = manifest
        self._fsync = fsync
        self._limiter = limiter
        self._on_archived = on_archived
        self._on_failed = on_failed
        # The stream never blocks a sender (so a cancelled hand-in never leaves a file
        # half handed over); the room is what bounds it.
        self._room = anyio.Semaphore(room)
        self._send: MemoryObjectSendStream[Finishing]
        self._send, self._receive = anyio.create_memory_object_stream[Finishing](math.inf)
        self.fatal: ArchiveError | None = None
        """Set when the manifest could not be written: the run must stop."""

    def close_intake(self) -> None:
        """No more files will come (:meth:`run` ends once the queue is empty)."""
        self._send.close()

    async def hand_in(self, item: Finishing) -> None:
        """Hand a file in, waiting only for room; its outcome goes to ``on_archived`` or
        ``on_failed``. Once this returns the file is this stage's: it is finished and
        recorded even if the run is cancelled."""
        try:
            self._room.acquire_nowait()  # no trip through the event loop per file
        except anyio.WouldBlock:
            await self._room.acquire()
        item.detached = True
        self._send.send_nowait(item)
        item.sink.handed_over = True

    async def finish(self, item: Finishing) -> ArchivedFile | None:
        """Hand a file in and wait until it is under its final name, recorded.

        If the caller is cancelled while waiting, the file is still finished and recorded
        (it is complete), and counted through ``on_archived``.

        Returns:
            The record, or ``None`` when the file failed (``item.failure`` says why).
        """
        done = item.done = anyio.Event()
        self._send.send_nowait(item)
        item.sink.handed_over = True
        await done.wait()
        return item.archived

    async def run(self) -> None:
        """The finisher task: group what is queued, finish it in a thread, repeat.

        One task: while its group is in a thread the next group gathers, so groups (one
        manifest transaction each) are larger. Two measured slower on 2000 x 30 KiB:
        0.424 s against 0.375 s (bench_throughput.py --only small, medians of 5), and no
        faster again in session 10 with twice the context switches.
        """
        receive = self._receive
        async with receive:
            try:
                async for first in receive:
                    await self._one_group(first)
            except anyio.get_cancelled_exc_class():
                # The run is stopping: files already handed in are complete, so they are
                # still finished and recorded rather than left as temp files.
                with anyio.CancelScope(shield=True):
                    while True:
                        try:
                            first = receive.receive_nowait()
                        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                            break
                        await self._one_group(first)
                raise

    async def _one_group(self, first: Finishing) -> None:
        receive = self._receive
        group = [first]
        while len(group) < _GROUP_MAX:
            try:
                group.append(receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._finish_group, group, limiter=self._limiter)
        archived = [item.archived for item in group if item.archived is not None]
        self._manifest.note(archived)
        for item in group:
            if item.done is not None:
                item.done.set()
            if item.detached:
                self._room.release()
        for record in archived:
            self._on_archived(record)
        for item in group:
            if item.detached and item.failure is not None:
                self._on_failed(item)

    # -- in a worker thread ---------------------------------------------------------

    def _finish_group(self, group: list[Finishing]) -> None:
        ready: list[tuple[Finishing, str, str, ArchivedFile, bytes | None]] = []
        archived_at = utc_now()  # one transaction, one moment
        for item in group:
            try:
                tmp, digest = item.sink.close(item.pending, fsync=self._fsync)
                item.pending = []
                final = self._dest.final_path(item.rel_path)
                archived = ArchivedFile(
                    file=item.file,
                    batch=item.batch,
                    path=item.rel_path,
                    bytes=item.sink.written,
                    sha256=digest,
                    mime_type=item.mime_type,
                    archived_at=archived_at,
                )
                side = archived.sidecar() if item.sidecar else None
                if side is not None:
                    with open(f"{tmp}.json", "xb") as fh:
                        fh.write(side)
            except (OSError, PathOutsideDestinationError) as exc:
                self._fail(item, write_failure(exc))
                continue
            ready.append((item, tmp, final, archived, side))
        if not ready:
            return
        try:
            self._manifest.commit([r[3] for r in ready])
        except ArchiveError as exc:
            if self.fatal is None:
                self.fatal = exc
            for item, *_ in ready:
                self._fail(item, (exc.reason, str(exc)))
            return
        taken_back: list[str] = []
        for item, tmp, final, archived, side in ready:
            try:
                os.replace(tmp, final)
            except OSError as exc:
                taken_back.append(archived.file.id)
                self._fail(item, write_failure(exc))
                continue
            if side is not None:
                try:
                    os.replace(f"{tmp}.json", f"{final}.json")
                except OSError as exc:
                    # A file without its promised sidecar counts as failed: take it back.
                    with contextlib.suppress(OSError):
                        os.unlink(final)
                    taken_back.append(archived.file.id)
                    self._fail(item, write_failure(exc))
                    continue
            item.sink.path = None  # renamed: nothing left to remove
            item.archived = archived
        if taken_back:
            try:
                self._manifest.delete(taken_back)
            except ArchiveError as exc:
                if self.fatal is None:
                    self.fatal = exc

    @staticmethod
    def _fail(item: Finishing, failure: tuple[str, str]) -> None:
        item.failure = failure
        item.sink.discard()
