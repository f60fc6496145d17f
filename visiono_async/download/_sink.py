"""The temp file of one download: written and hashed in worker threads, never on the loop.

Bytes go to a temp file in ``.visiono/tmp`` while they are hashed; ``_finish`` gives the
file its final name. Any failure, cancellation included, removes the temp file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from typing import Protocol

__all__ = ["Sink", "TempFile", "default_opener"]


class TempFile(Protocol):
    """What the pipeline needs of an open temp file; a binary file object has it all."""

    def write(self, data: bytes | memoryview, /) -> int:
        """Write some of ``data``; return how much."""
        ...

    def flush(self) -> None:
        """Hand buffered bytes to the OS."""
        ...

    def fileno(self) -> int:
        """The OS file descriptor (for ``fsync``)."""
        ...

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Move the write position."""
        ...

    def truncate(self, size: int | None = None, /) -> int:
        """Cut the file at ``size`` (the current position by default)."""
        ...

    def close(self) -> None:
        """Close the file."""
        ...


class _RawFile:
    """A temp file written with plain ``os`` calls, one syscall per operation.

    Every syscall releases the GIL and must win it back, which costs a thread wake-up
    while the event loop is busy: ``open()`` spends three of them (open, fstat and a
    terminal check) where ``os.open`` spends one, and chunks are large enough that a
    buffer would only add a copy.
    """

    __slots__ = ("_fd",)

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, _CREATE_FLAGS, 0o666)

    def write(self, data: bytes | memoryview, /) -> int:
        return os.write(self._fd, data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fd

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return os.lseek(self._fd, offset, whence)

    def truncate(self, size: int | None = None, /) -> int:
        if size is None:
            size = os.lseek(self._fd, 0, os.SEEK_CUR)
        os.ftruncate(self._fd, size)
        return size

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def default_opener(path: str) -> TempFile:
    """Open a temp file exclusively, for plain unbuffered writes."""
    return _RawFile(path)


def _write_all(fh: TempFile, data: bytes | memoryview) -> None:
    written = fh.write(data)
    if written < len(data):  # a short write: legal, if rare, for an unbuffered file
        view = memoryview(data)
        while written < len(data):
            written += fh.write(view[written:])


class Sink:
    """The temp file, its running hash and its byte count; used from worker threads only.

    Args:
        temp_path: Makes a fresh temp file path.
        opener: Opens it for writing, exclusively.
    """

    def __init__(self, temp_path: Callable[[], str], opener: Callable[[str], TempFile]) -> None:
        self._temp_path = temp_path
        self._opener = opener
        self.path: str | None = None
        self._fh: TempFile | None = None
        self.hasher = hashlib.sha256()
        self.written = 0
        self.etag: str | None = None
        self.head = b""
        """The body's first bytes (for the sniffed type)."""
        self.handed_over = False
        """Whether ``_finish`` owns the temp file now (the fetch must not remove it)."""

    def write(self, chunks: list[bytes]) -> None:
        """Write and hash ``chunks``."""
        fh = self._fh if self._fh is not None else self._open()
        update = self.hasher.update
        for chunk in chunks:
            _write_all(fh, chunk)
            update(chunk)
            self.written += len(chunk)

    def write_view(self, data: memoryview) -> None:
        """Write and hash ``data`` (a view of a reused buffer: used before it changes)."""
        _write_all(self._fh if self._fh is not None else self._open(), data)
        self.hasher.update(data)
        self.written += len(data)

    def _open(self) -> TempFile:
        self.path = self._temp_path()
        fh = self._fh = self._opener(self.path)
        return fh

    def restart(self) -> None:
        """Empty the file and the hash (storage sent a whole new body)."""
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
        self.hasher = hashlib.sha256()
        self.written = 0

    def close(self, chunks: list[bytes], *, fsync: bool) -> tuple[str, str]:
        """Write the last chunks, flush, optionally fsync, close; ``(temp path, sha256)``."""
        if chunks or self._fh is None:
            self.write(chunks)
        fh = self._fh
        assert fh is not None
        assert self.path is not None
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
        fh.close()
        self._fh = None
        return self.path, self.hasher.hexdigest()

    def discard(self) -> None:
        """Close and remove the temp file (and a sidecar's temp file)."""
        fh, path = self._fh, self.path
        self._fh = self.path = None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()
        for leftover in (path, f"{path}.json") if path else ():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
