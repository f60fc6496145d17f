"""Files already under their final name without a manifest row: recorded when they match.

That happens when a manifest was moved away to be rebuilt, or a run was killed between a
rename and its row in some earlier version. A file is taken as the source's file only when
its bytes match what the source says: its SHA-256 when announced; else its exact size, or
its size in KiB within the provider's rounding, and its leading bytes of the announced type.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence

from ._manifest import Manifest
from ._record import ArchivedFile
from ._source import RemoteFile
from ._verify import SNIFF_BYTES, check_content, check_size, sniff

__all__ = ["matches", "reconcile"]

_READ = 1 << 20


def matches(file: RemoteFile, path: str) -> tuple[int, str, str | None] | None:
    """``(size, sha256, sniffed type)`` of the file at ``path`` when it is ``file``, else None."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if file.sha256 is None:
        if file.size is None and file.size_kb is None:
            return None  # nothing to compare with
        if check_size(st.st_size, size=file.size, size_kb=file.size_kb) is not None:
            return None
        if file.size is None and not file.mime_type:
            return None  # a size in KiB alone proves too little
    digest = hashlib.sha256()
    head = b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_READ):
                if not head:
                    head = chunk[:SNIFF_BYTES]
                digest.update(chunk)
    except OSError:
        return None
    hexdigest = digest.hexdigest()
    if file.sha256 is not None and file.sha256.lower() != hexdigest:
        return None
    if file.sha256 is None and check_content(head, file.mime_type) is not None:
        return None
    return st.st_size, hexdigest, sniff(head)


def reconcile(
    root: str, manifest: Manifest, batch: str, candidates: Sequence[tuple[RemoteFile, str]]
) -> list[ArchivedFile]:
    """Record the candidates found on disk that match (blocking; a worker thread's job).

    Args:
        root: The destination folder.
        manifest: Where the rows go.
        batch: The batch key of the candidates.
        candidates: ``(file, path relative to root)`` pairs without a usable row.

    Returns:
        The files recorded.
    """
    found: list[ArchivedFile] = []
    # A rebuilt archive may have lost whole folders: one look per folder, not per file.
    folders: dict[str, bool] = {}
    for file, rel in candidates:
        full = os.path.join(root, rel)
        folder = os.path.dirname(full)
        present = folders.get(folder)
        if present is None:
            present = folders[folder] = os.path.isdir(folder)
        if not present or not os.path.lexists(full):
            continue
        match = matches(file, full)
        if match is None:
            continue
        size, digest, sniffed = match
        found.append(
            ArchivedFile(
                file=file,
                batch=batch,
                path=rel,
                bytes=size,
                sha256=digest,
                mime_type=file.mime_type or sniffed,
            )
        )
    manifest.commit(found)
    return found
