"""The destination folder: its lock, its state folder, its temp files, its safe subfolders.

Everything here is blocking file-system work and is called from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import unicodedata

from ._paths import PathOutsideDestinationError, is_inside
from ._report import ArchiveError

__all__ = ["STATE_DIR", "Destination", "clean_tmp", "lock_exclusive", "prepare"]

STATE_DIR = ".visiono"
"""The folder in ``dest`` holding the manifest, the lock and temp files."""


class Destination:
    """The paths of one archive's destination, and the subfolders already checked safe.

    Args:
        root: The destination folder, absolute.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.state_dir = os.path.join(root, STATE_DIR)
        self.tmp_dir = os.path.join(self.state_dir, "tmp")
        self._verified: set[str] = set()
        self._real_root: str | None = None
        self._at_start: frozenset[str] | None = None
        """The names in ``root`` when the run began (folded); ``None``: not known."""

    def predates_run(self, rel_path: str) -> bool:
        """Whether a file at ``rel_path`` may have been there before this run: its first
        component was in ``root`` when the run began (or that is not known).

        A run's own files have their rows before their names, so only such a file can be
        on disk without one; in a fresh destination no file needs to be looked for.
        """
        at_start = self._at_start
        if at_start is None:
            return True
        return bool(at_start) and _fold(rel_path.split("/", 1)[0]) in at_start

    def final_path(self, rel_path: str) -> str:
        """Where ``rel_path`` lives, after making its folder (inside ``root``, always).

        Raises:
            PathOutsideDestinationError: The folder resolves outside ``root`` (a symlink).
            OSError: The folder cannot be made.
        """
        final = os.path.join(self.root, rel_path)
        parent = os.path.dirname(final)
        if parent not in self._verified:
            # Resolved once per run: each resolution is a stat per path component.
            if self._real_root is None:
                self._real_root = os.path.realpath(self.root)
            real_root = self._real_root
            # Check the deepest existing ancestor first, so that a symlink already inside
            # dest cannot make makedirs create folders elsewhere.
            existing = parent
            while not os.path.isdir(existing):
                existing = os.path.dirname(existing)
            if not is_inside(self.root, existing, real_root=real_root):
                raise PathOutsideDestinationError(f"{rel_path!r} resolves outside dest")
            os.makedirs(parent, exist_ok=True)
            if not is_inside(self.root, parent, real_root=real_root):
                raise PathOutsideDestinationError(f"{rel_path!r} resolves outside dest")
            self._verified.add(parent)
        return final


def prepare(root: str) -> Destination:
    """Create ``root``, its state folder and its temp folder, and prove they are writable.

    Raises:
        ArchiveError: ``destination_not_writable``.
    """
    dest = Destination(root)
    try:
        os.makedirs(dest.tmp_dir, exist_ok=True)
        # Unique per run: runs in one process (shared_dest jobs) must not remove each other's.
        # In the state folder, not in tmp/: a run holding the lock empties tmp/ at any time,
        # and a probe removed under this run's feet read as "not writable".
        probe = os.path.join(dest.state_dir, f".probe-{os.getpid()}-{secrets.token_hex(4)}")
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write to the destination {root!r}: {exc.strerror or exc}",
            reason="destination_not_writable",
        ) from exc
    with contextlib.suppress(OSError), os.scandir(root) as entries:  # unreadable: not known
        dest._at_start = frozenset(_fold(e.name) for e in entries if e.name != STATE_DIR)
    return dest


def _fold(name: str) -> str:
    """A name as a case-insensitive or normalising file system may match it: comparing
    folded names can only find more candidates, never miss one."""
    return unicodedata.normalize("NFC", name).casefold()


def lock_exclusive(state_dir: str) -> int:
    """Take the destination's lock for the run, exclusively (POSIX; elsewhere only the file
    is opened); returns its descriptor, whose ``os.close`` releases it (both blocking).

    Raises:
        ArchiveError: ``destination_busy``: another run holds it.
    """
    fd = os.open(os.path.join(state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    if sys.platform != "win32":
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArchiveError(
                "another archive run is writing to this destination",
                reason="destination_busy",
            ) from None
    return fd


def clean_tmp(tmp_dir: str) -> None:
    """Remove the temp files a stopped or killed run left behind."""
    with contextlib.suppress(FileNotFoundError), os.scandir(tmp_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
