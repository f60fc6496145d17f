"""Bulk archiving: every photo of chosen photo requests and smart links, to disk, safely.

``archive(client, dest, Selection(...))`` streams the selection, fetches signed URLs just
in time, downloads with bounded parallelism, verifies and hashes every file, and records it
in a manifest so that re-runs only fetch what is new. Any other signed-URL provider can be
archived the same way through a custom ``Source``.
"""

from __future__ import annotations

from .._selection import Selection as Selection
from ._aiohttp import AiohttpTransport as AiohttpTransport
from ._events import ArchiveEvents as ArchiveEvents
from ._events import iter_archive as iter_archive
from ._fetch import DOWNLOAD_RETRY as DOWNLOAD_RETRY
from ._fetch import FetchSettings as FetchSettings
from ._http import BodyPipe as BodyPipe
from ._http import LeanTransport as LeanTransport
from ._listing import walk_pages as walk_pages
from ._manifest import ManifestEntry as ManifestEntry
from ._manifest import read_manifest as read_manifest
from ._paths import DEFAULT_TEMPLATE as DEFAULT_TEMPLATE
from ._paths import TEMPLATE_FIELDS as TEMPLATE_FIELDS
from ._paths import render_path as render_path
from ._paths import sanitize_component as sanitize_component
from ._paths import validate_template as validate_template
from ._pipeline import ArchiveClient as ArchiveClient
from ._pipeline import Variant as Variant
from ._pipeline import archive as archive
from ._progress import PlainProgress as PlainProgress
from ._progress import ProgressCallback as ProgressCallback
from ._progress import ProgressEvent as ProgressEvent
from ._progress import RichProgress as RichProgress
from ._progress import terminal_progress as terminal_progress
from ._report import ArchiveError as ArchiveError
from ._report import ArchiveReport as ArchiveReport
from ._report import FailedFile as FailedFile
from ._sink import TempFile as TempFile
from ._source import Batch as Batch
from ._source import RemoteFile as RemoteFile
from ._source import SignedURLSource as SignedURLSource
from ._source import Source as Source
from ._transport import InvalidRequest as InvalidRequest
from ._transport import StorageBodyCut as StorageBodyCut
from ._transport import StorageConnectionError as StorageConnectionError
from ._transport import StorageResponse as StorageResponse
from ._transport import StorageTransport as StorageTransport
from ._transport import TooManyRedirects as TooManyRedirects
from ._transport import UnsupportedEncoding as UnsupportedEncoding
from ._verify_archive import VerifyReport as VerifyReport
from ._verify_archive import verify_archive as verify_archive
from ._visiono import VisionoBatch as VisionoBatch
from ._visiono import VisionoSource as VisionoSource

__all__ = [
    "AiohttpTransport",
    "ArchiveClient",
    "ArchiveError",
    "ArchiveEvents",
    "ArchiveReport",
    "Batch",
    "BodyPipe",
    "DEFAULT_TEMPLATE",
    "DOWNLOAD_RETRY",
    "FailedFile",
    "FetchSettings",
    "InvalidRequest",
    "LeanTransport",
    "ManifestEntry",
    "PlainProgress",
    "ProgressCallback",
    "ProgressEvent",
    "RemoteFile",
    "RichProgress",
    "Selection",
    "SignedURLSource",
    "Source",
    "StorageBodyCut",
    "StorageConnectionError",
    "StorageResponse",
    "StorageTransport",
    "TEMPLATE_FIELDS",
    "TempFile",
    "TooManyRedirects",
    "UnsupportedEncoding",
    "Variant",
    "VerifyReport",
    "VisionoBatch",
    "VisionoSource",
    "archive",
    "iter_archive",
    "read_manifest",
    "render_path",
    "sanitize_component",
    "terminal_progress",
    "validate_template",
    "verify_archive",
    "walk_pages",
]
