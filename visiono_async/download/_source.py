"""The source interface: where the pipeline takes its work from.

A source yields *batches*. A batch is a set of files whose signed URLs are issued (and
re-issued) together by one call: a Visiono photo request's ``download-urls``, a page of
presigned S3 keys, anything. The pipeline fetches batches just in time, a few ahead of the
downloads, and calls a batch's ``fetch`` again when its URLs expire, at most once per expired
generation however many files are waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Batch", "RemoteFile", "SignedURLSource", "Source"]


def _frozen_str_map(value: Mapping[str, object]) -> Mapping[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@attrs.frozen(kw_only=True)
class RemoteFile:
    """One file behind a signed URL.

    Attributes:
        id: Stable, unique identity of the file across runs; the manifest's key. Visiono
            sources use the submission id (``"ps_..."``), with ``":thumbnail"`` appended for
            thumbnails.
        url: The signed URL to ``GET``. Never logged with its query string.
        expires_at: When the URL stops working, in Unix seconds (``time.time()``); ``None``
            when unknown or never.
        size: The exact size in bytes, when the provider says.
        size_kb: The size in kilobytes as the provider reports it (rounded either way, KiB
            or kB); checked with one unit of tolerance.
        mime_type: The expected content type (``"image/jpeg"``); the body is sniffed
            against it.
        variant: ``"original"`` or ``"thumbnail"``; the pipeline's ``variant`` option
            selects among them.
        fields: Values for the naming template (``photo_request_id``, ``item_id``,
            ``submission_id``, ...). Every value is sanitised before use.
        metadata: JSON-serialisable data for the optional sidecar file.
        latitude: GPS latitude of the photo, recorded in the manifest.
        longitude: GPS longitude of the photo, recorded in the manifest.
        submitted_at: ISO 8601 time the photo was submitted, recorded in the manifest.
        headers: Request headers sent with every GET of this file, by every transport (a
            token for token-authorised downloads). They are treated as credentials: a
            redirect to another origin drops them, as it drops ``Authorization`` and
            ``Cookie``. Never logged.
        submission_id: The submission the file belongs to, when known (the manifest's
            column; ``fields["submission_id"]`` is read when this is ``None``).
        photo_request_id: The photo request, when the file belongs to one.
        smart_link_id: The smart link, when the file belongs to one.
        item_id: The photo request item, when known.
        unique_value: The smart link's unique field value, when known.
        full_name: The submitter's name, when known.
        sha256: The hex SHA-256 the provider announces, when it does: a file found on
            disk without a manifest row is recorded only when its bytes match it.
        available_at: When the file can be fetched (an aware datetime); ``None``: now. The
            pipeline does not start it earlier, and retries a 404, 409 or 425 answer until
            the source's availability deadline.
    """

    id: str
    url: str
    expires_at: float | None = None
    size: int | None = None
    size_kb: float | None = None
    mime_type: str | None = None
    variant: str = "original"
    fields: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_str_map)
    metadata: Mapping[str, object] = attrs.field(factory=dict)
    latitude: float | None = None
    longitude: float | None = None
    submitted_at: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_str_map, repr=False)
    submission_id: str | None = None
    photo_request_id: str | None = None
    smart_link_id: str | None = None
    item_id: str | None = None
    unique_value: str | None = None
    full_name: str | None = None
    sha256: str | None = None
    available_at: dt.datetime | None = attrs.field(default=None)

    @available_at.validator
    def _aware(self, _attribute: object, value: dt.datetime | None) -> None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("available_at must be an aware datetime (with a tzinfo)")

    def known(self, name: str) -> str | None:
        """A descriptive value: the typed attribute, else the source's ``fields`` entry."""
        value = getattr(self, name, None)
        if value is None:
            value = self.fields.get(name) or None
        return None if value is None else str(value)


@runtime_checkable
class Batch(Protocol):
    """Files whose URLs are issued together.

    Attributes:
        key: Identifies the batch in progress events and errors (``"pr_123"``).
    """

    @property
    def key(self) -> str:
        """Identifies the batch (a photo request id, a bucket prefix, ...)."""
        ...

    async def fetch(self) -> Iterable[RemoteFile]:
        """Return the batch's files with freshly signed URLs.

        Called once before the batch's downloads and again, coalesced, whenever its URLs
        expire. Files keep their ``id`` across calls.
        """
        ...


@runtime_checkable
class Source(Protocol):
    """Anything the pipeline can archive: an async stream of batches.

    A source may also declare, as attributes, ``availability_timeout`` (seconds during
    which a 404, 409 or 425 from storage means "not yet available": retried with backoff,
    counted from the file's ``available_at``) and ``refresh_expensive`` (``True`` when
    each URL refresh costs the provider dearly, such as a new capture: no refresh ahead
    of expiry, at most one per file). ``SignedURLSource`` takes both as options.
    """

    def batches(self) -> AsyncIterator[Batch]:
        """Yield batches lazily; the pipeline pulls them as it needs them."""
        ...


@attrs.frozen
class _CallableBatch:
    key: str
    fetcher: Callable[[], Awaitable[Iterable[RemoteFile]]]

    async def fetch(self) -> Iterable[RemoteFile]:
        return await self.fetcher()


class SignedURLSource:
    """A source built from batches or from ``(key, refresher)`` pairs.

    Example::

        async def sign_album(album: str) -> list[RemoteFile]: ...

        source = SignedURLSource.from_refreshers(
            {album: functools.partial(sign_album, album) for album in albums}
        )
        report = await archive(None, "out/", source=source)

    Args:
        batches: Batches, in a plain or an async iterable (consumed lazily, once).
        availability_timeout: Seconds a file may answer 404, 409 or 425 after its
            ``available_at`` before that is final (0: at once).
        refresh_expensive: Each refresh costs the provider dearly: refresh only when
            storage refuses a URL, at most once per file.
    """

    def __init__(
        self,
        batches: Iterable[Batch] | AsyncIterable[Batch],
        *,
        availability_timeout: float = 0.0,
        refresh_expensive: bool = False,
    ) -> None:
        if availability_timeout < 0:
            raise ValueError("availability_timeout must be >= 0")
        self._batches = batches
        self.availability_timeout = availability_timeout
        self.refresh_expensive = refresh_expensive

    @classmethod
    def from_refreshers(
        cls,
        refreshers: Mapping[str, Callable[[], Awaitable[Iterable[RemoteFile]]]],
        *,
        availability_timeout: float = 0.0,
        refresh_expensive: bool = False,
    ) -> SignedURLSource:
        """A source with one batch per key; each refresher (re-)signs that batch's URLs."""
        return cls(
            [_CallableBatch(key, fn) for key, fn in refreshers.items()],
            availability_timeout=availability_timeout,
            refresh_expensive=refresh_expensive,
        )

    @classmethod
    def from_files(
        cls,
        files: Iterable[RemoteFile],
        *,
        key: str = "files",
        availability_timeout: float = 0.0,
    ) -> SignedURLSource:
        """One batch of fixed URLs that are never refreshed (they are returned as they are)."""
        frozen = list(files)

        async def same() -> list[RemoteFile]:
            return frozen

        return cls([_CallableBatch(key, same)], availability_timeout=availability_timeout)

    async def batches(self) -> AsyncIterator[Batch]:
        """Yield the batches given to the constructor."""
        if isinstance(self._batches, AsyncIterable):
            async for batch in self._batches:
                yield batch
        else:
            for batch in self._batches:
                yield batch
