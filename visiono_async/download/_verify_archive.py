"""``verify_archive``: every manifest row checked against its file (exists, size, SHA-256).

Files that are missing or changed are marked in the manifest, so that the next archive run
fetches exactly those again (a changed file is never taken back as the source's file).
Hashing runs in worker threads, a few files at a time.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from ._destination import STATE_DIR
from ._manifest import STATE_CHANGED, ManifestEntry, _open, manifest_path, read_rows
from ._progress import ProgressCallback, ProgressEvent
from ._report import ArchiveError

__all__ = ["VerifyReport", "verify_archive"]

_READ = 1 << 20
_PARALLEL = 4


@attrs.frozen(kw_only=True)
class VerifyReport:
    """What ``verify_archive`` found.

    Attributes:
        dest: The destination folder.
        checked: Manifest rows checked.
        missing: Paths recorded in the manifest but not on disk.
        changed: Paths whose size or SHA-256 differ from the manifest's.
        untracked: Files under ``dest`` the manifest does not know (sidecars of recorded
            files and the ``.visiono`` folder excepted).
        bytes: Bytes read and hashed.
        elapsed: Wall-clock seconds.
    """

    dest: str
    checked: int
    missing: list[str]
    changed: list[str]
    untracked: list[str]
    bytes: int
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when every row matches its file and no file is untracked."""
        return not (self.missing or self.changed or self.untracked)

    def summary(self) -> str:
        """A few lines for humans, listing up to 20 paths per kind."""
        lines = [
            f"{self.checked} checked: {self.checked - len(self.missing) - len(self.changed)}"
            f" match, {len(self.missing)} missing, {len(self.changed)} changed,"
            f" {len(self.untracked)} untracked ({self.elapsed:.1f}s)"
        ]
        for label, paths in (
            ("missing", self.missing),
            ("changed", self.changed),
            ("untracked", self.untracked),
        ):
            for path in paths[:20]:
                lines.append(f"  {label}: {path}")
            if len(paths) > 20:
                lines.append(f"  ... and {len(paths) - 20} more {label}")
        if self.missing or self.changed:
            lines.append("the next archive run fetches the missing and changed files again")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _digest(path: str) -> tuple[int, str] | None:
    try:
        hasher = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(_READ):
                hasher.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return -1, ""
    return size, hasher.hexdigest()


def _untracked(root: str, tracked: set[str]) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            if rel in tracked or (rel.endswith(".json") and rel[:-5] in tracked):
                continue
            found.append(rel)
    return sorted(found)


def _mark(dest: str, ids: Iterable[str]) -> None:
    rows = [(STATE_CHANGED, i) for i in ids]
    if not rows:
        return
    path = manifest_path(dest)
    conn = _open(path, create=True)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("UPDATE files SET state = ? WHERE id = ?", rows)
    except Exception as exc:
        raise ArchiveError(
            f"cannot mark changed files in the manifest {path}: {exc}",
            reason="manifest_unwritable",
        ) from exc
    finally:
        conn.close()


async def verify_archive(
    dest: str | os.PathLike[str], *, on_progress: ProgressCallback | None = None
) -> VerifyReport:
    """Check every file the manifest of ``dest`` records against the file on disk.

    Missing and changed files are marked in the manifest, so the next ``archive`` run
    fetches exactly those (and only those) again.

    Args:
        dest: The archive's destination folder.
        on_progress: Called with a ``ProgressEvent`` per file checked (``"file_done"``,
            ``bytes_done`` / ``bytes_total`` for a progress bar) and ``"finished"``.

    Returns:
        The findings; ``ok`` when everything matches.

    Raises:
        ArchiveError: ``dest`` has no manifest (``manifest_missing``), or it is damaged
            (``manifest_damaged``).
    """
    root = await anyio.to_thread.run_sync(os.path.abspath, os.fspath(dest))
    started = time.monotonic()
    rows = await anyio.to_thread.run_sync(read_rows, root)
    if rows is None:
        raise ArchiveError(
            f"{root} has no manifest ({manifest_path(root)}): nothing to verify",
            reason="manifest_missing",
        )
    entries: list[ManifestEntry] = [entry for entry, _ in rows]
    total_bytes = sum(e.bytes for e in entries)
    missing: list[str] = []
    changed: list[tuple[str, str]] = []
    done = 0
    hashed = 0
    limiter = anyio.CapacityLimiter(_PARALLEL)

    def emit(kind: str, path: str | None = None, size: int = 0) -> None:
        if on_progress is not None:
            on_progress(
                ProgressEvent(
                    kind,  # type: ignore[arg-type]
                    path=path,
                    bytes=size,
                    files_total=len(entries),
                    files_done=done,
                    files_failed=len(missing) + len(changed),
                    bytes_done=hashed,
                    bytes_total=total_bytes,
                )
            )

    async def check(entry: ManifestEntry) -> None:
        nonlocal done, hashed
        full = os.path.join(root, entry.path)
        found = await anyio.to_thread.run_sync(_digest, full, limiter=limiter)
        done += 1
        if found is None:
            missing.append(entry.path)
        else:
            size, digest = found
            hashed += max(size, 0)
            if size != entry.bytes or digest != entry.sha256:
                changed.append((entry.id, entry.path))
        emit("file_done", entry.path, entry.bytes)

    send, receive = anyio.create_memory_object_stream[ManifestEntry](_PARALLEL)

    async def checker(receive: MemoryObjectReceiveStream[ManifestEntry]) -> None:
        async with receive:
            async for entry in receive:
                await check(entry)

    async with anyio.create_task_group() as tg:
        async with receive:
            for _ in range(_PARALLEL):
                tg.start_soon(checker, receive.clone())
        async with send:
            for entry in entries:
                await send.send(entry)
    tracked = {e.path for e in entries}
    untracked = await anyio.to_thread.run_sync(_untracked, root, tracked)
    by_path = {e.path: e.id for e in entries}
    stale = [by_path[p] for p in missing] + [i for i, _ in changed]
    await anyio.to_thread.run_sync(_mark, root, stale)
    emit("finished")
    return VerifyReport(
        dest=root,
        checked=len(entries),
        missing=sorted(missing),
        changed=sorted(p for _, p in changed),
        untracked=untracked,
        bytes=hashed,
        elapsed=time.monotonic() - started,
    )
