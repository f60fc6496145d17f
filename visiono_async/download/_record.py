"""One file, one record: the views of a ``RemoteFile`` that name it, describe it and record it.

A file travels the pipeline as one frozen ``RemoteFile`` (from ``download-urls`` or a
custom source) and leaves it as one frozen ``ArchivedFile`` (the same file plus where it
went and what its bytes are). The naming template's fields, the sidecar and the manifest
row are views of that record, computed here and nowhere else.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from typing import Any

import attrs

from ._source import RemoteFile

__all__ = ["ROW_COLUMNS", "ArchivedFile", "naming_fields", "utc_now"]

ROW_COLUMNS = (
    "id",
    "batch",
    "submission_id",
    "photo_request_id",
    "smart_link_id",
    "item_id",
    "variant",
    "path",
    "bytes",
    "sha256",
    "mime_type",
    "latitude",
    "longitude",
    "submitted_at",
    "archived_at",
)
"""The manifest's columns, in the order of :meth:`ArchivedFile.row`."""

_DESCRIPTIVE = ("submission_id", "photo_request_id", "smart_link_id", "item_id")
_NAMED = (*_DESCRIPTIVE, "unique_value", "full_name")


def naming_fields(file: RemoteFile, ext: str) -> dict[str, str]:
    """The naming template's view of a file: its typed attributes, then the source's
    ``fields``, then ``id``, ``variant`` and ``ext``.

    The default template files smart-link photos under the link: ``photo_request_id``
    renders as the smart link id when the file has no photo request. That fallback is the
    template's alone; the manifest row keeps the real (empty) photo request id.
    """
    view = {name: value for name in _NAMED if (value := file.known(name))}
    view.update({k: v for k, v in file.fields.items() if v})
    if "photo_request_id" not in view and file.smart_link_id:
        view["photo_request_id"] = file.smart_link_id
    view["id"] = file.id
    view["variant"] = file.variant
    view["ext"] = file.fields.get("ext") or ext
    return view


def utc_now() -> str:
    """Now, as an ``archived_at`` (ISO 8601, UTC, whole seconds)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@attrs.frozen(kw_only=True)
class ArchivedFile:
    """A file under its final name: the record the manifest row and the sidecar are made of.

    Attributes:
        file: The remote file as the source described it.
        batch: The key of the batch it came from.
        path: Its path relative to ``dest``, ``/``-separated.
        bytes: Its size on disk.
        sha256: Hex SHA-256 of its bytes.
        mime_type: The announced type, else the type its bytes revealed.
        archived_at: When it was recorded (ISO 8601, UTC).
    """

    file: RemoteFile
    batch: str
    path: str
    bytes: int
    sha256: str
    mime_type: str | None
    archived_at: str = attrs.field(factory=utc_now)

    def row(self) -> tuple[Any, ...]:
        """The manifest row, in :data:`ROW_COLUMNS` order."""
        f = self.file
        return (
            f.id,
            self.batch,
            f.known("submission_id"),
            f.known("photo_request_id"),
            f.known("smart_link_id"),
            f.known("item_id"),
            f.variant,
            self.path,
            self.bytes,
            self.sha256,
            self.mime_type,
            f.latitude,
            f.longitude,
            f.submitted_at,
            self.archived_at,
        )

    def sidecar(self) -> builtins.bytes:
        """The sidecar file's JSON: the row's facts plus the naming view and metadata."""
        f = self.file
        body = {
            "id": f.id,
            "variant": f.variant,
            "path": self.path,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "mime_type": self.mime_type,
            "submitted_at": f.submitted_at,
            "latitude": f.latitude,
            "longitude": f.longitude,
            "fields": {
                k: v for k, v in naming_fields(f, "").items() if k not in {"ext", "id", "variant"}
            },
            "metadata": dict(f.metadata),
        }
        return json.dumps(body, indent=2, sort_keys=True, default=str).encode() + b"\n"
