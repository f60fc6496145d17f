"""``VisionoClient``: the lifecycle of one API client, with its resources as attributes."""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs

from ._config import ClientConfig, RateLimit, RetryPolicy, resolve_api_key, resolve_base_url
from ._proxy import ProxySettings
from ._ratelimit import RateLimitInfo, WaitListener
from ._selection import Selection
from ._session import Session
from .resources import Account, PermanentLinks, PhotoRequests, SmartLinks, WebhookEndpoints
from .resources.account import ClientWithRawResponse

if TYPE_CHECKING:
    from .download import (
        ArchiveReport,
        FetchSettings,
        ProgressCallback,
        Source,
        StorageTransport,
        Variant,
    )
    from .models import Stats, Status

__all__ = ["VisionoClient"]

_DEFAULT_RATE_LIMIT = RateLimit()
_DEFAULT_TEMPLATE = "{photo_request_id}/{item_id}_{submission_id}{ext}"
"""``download.DEFAULT_TEMPLATE``, spelled out so that importing the client does not import
the downloader (a test checks that ``archive``'s defaults are the downloader's)."""


class _Unchanged(enum.Enum):
    UNCHANGED = "UNCHANGED"


UNCHANGED = _Unchanged.UNCHANGED
"""``with_options(rate_limit=...)`` not given: the derived client shares the pacer."""


class VisionoClient:
    """An asyncio client for the Visiono API.

    Use it as an async context manager (or call :meth:`aclose`)::

        async with VisionoClient() as client:          # key from $VISIONO_API_KEY
            pr = await client.photo_requests.create(instructions="Upload your ID")

    Args:
        api_key: The API key; ``$VISIONO_API_KEY`` when None. A missing key raises
            ``ValueError`` here, not a 401 later.
        base_url: The API root; ``$VISIONO_BASE_URL`` or ``https://www.visiono.io/api/v1``
            when None. The older ``https://api.visio.now/v1`` works too.
        timeout: Seconds for one API call attempt (overridable per call).
        max_retries: Retries of a failed call (see :class:`RetryPolicy` for which are retried).
        rate_limit: Client-side pacing (Visiono's 60/min and 1000/h by default); None turns
            it off. ``RateLimit(redis_url=...)`` shares one budget between every process
            using the key.
        max_retry_wait: The longest single wait before a retry or for the client's own
            pacing; a longer one raises ``RateLimitError`` with ``retry_after`` instead of
            sleeping. Waits the server asks for have their own limit
            (``RetryPolicy.max_reset_wait``, 90 s).
        retry: A full retry policy; overrides ``max_retries`` and ``max_retry_wait``.
        connect_timeout: Seconds to establish a connection.
        connection_limit: The most connections the pool opens at once (downloads included).
        http_session: Your own ``aiohttp.ClientSession``; the client then does not close it.
        user_agent: Extra text appended to the ``User-Agent`` header.
        proxy: An HTTP proxy for API calls and downloads alike,
            ``http://[user:password@]host:port`` (the credentials go to the proxy only).
        trust_env: Whether ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
            (or their lower-case forms, which win) apply; they are read once, here.
            ``proxy=None, trust_env=False`` connects directly whatever the environment says.
        storage_transport: What :meth:`archive` fetches storage with when a run names no
            ``transport=`` (``visiono_async.download.LeanTransport``, ``AiohttpTransport``
            or your own); it stays yours to close. By default each run makes its own
            ``LeanTransport``, or with ``http_session`` an ``AiohttpTransport`` over it.

    Raises:
        ValueError: No API key, a malformed base URL, or a proxy URL (given or from the
            environment) that is not ``http://``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        *,
        rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
        max_retry_wait: float = 60.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 10.0,
        connection_limit: int = 100,
        http_session: aiohttp.ClientSession | None = None,
        user_agent: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        storage_transport: StorageTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        from . import __version__

        agent = f"visiono-async/{__version__}" + (f" {user_agent}" if user_agent else "")
        self._config = ClientConfig(
            base_url=resolve_base_url(base_url),
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry=retry or RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait),
            rate_limit=rate_limit,
            connection_limit=connection_limit,
            user_agent=agent,
            proxy=ProxySettings.create(proxy, trust_env=trust_env),
        )
        self._bind(
            Session(resolve_api_key(api_key), self._config, http_session=http_session),
            storage_transport,
        )

    def _bind(self, session: Session, storage_transport: StorageTransport | None) -> None:
        self._session = session
        self._config = session.config
        self._storage_transport = storage_transport
        self._account = Account(session)
        self.photo_requests = PhotoRequests(session)
        """Photo requests: one-off, expiring collections (``pr_`` ids)."""
        self.smart_links = SmartLinks(session)
        """Smart links: permanent, reusable collection links (``sl_`` ids)."""
        self.permanent_links = PermanentLinks(session)
        """Permanent links: the older API name of smart links."""
        self.webhooks = WebhookEndpoints(session)
        """Webhook endpoints (``wh_`` ids) and the list of event types."""
        self.with_raw_response = ClientWithRawResponse(self._account)
        """The account calls answering with a :class:`~visiono_async.RawResponse`:
        ``(await client.with_raw_response.stats()).request_id``."""

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        rate_limit: RateLimit | _Unchanged | None = UNCHANGED,
        max_retry_wait: float | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float | None = None,
    ) -> VisionoClient:
        """A client with other settings that shares this one's connection pool.

        ::

            patient = client.with_options(timeout=120, max_retries=5)
            await patient.photo_requests.create_many(specs)

        The new client shares the pool, the key, the proxy, the last rate-limit values and,
        unless ``rate_limit`` is given with another value, the client-side pacer: both
        clients then draw on one budget, as they share one key and one server-side limit.
        Closing it (``aclose``, ``async with``) leaves the pool open for this client; closing
        this client closes the pool for both. Options not given keep this client's values.

        Args:
            timeout: Seconds for one API call attempt.
            max_retries: Retries of a failed call.
            rate_limit: Client-side pacing of its own (``None`` turns it off); when not
                given, the pacer is this client's.
            max_retry_wait: The longest single wait before a retry or for the rate limit.
            retry: A full retry policy; overrides ``max_retries`` and ``max_retry_wait``.
            connect_timeout: Seconds to establish a connection.

        Returns:
            The new client.

        Raises:
            ValueError: A timeout that is not positive, or a negative ``max_retries``.
            RuntimeError: This client is closed.
        """
        self._session._check_open()
        config = self._config
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        if connect_timeout is not None and connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0, got {connect_timeout!r}")
        policy = retry
        if policy is None:
            changes: dict[str, Any] = {}
            if max_retries is not None:
                changes["max_retries"] = max_retries
            if max_retry_wait is not None:
                changes["max_wait"] = max_retry_wait
            policy = attrs.evolve(config.retry, **changes) if changes else config.retry
        new_config = attrs.evolve(
            config,
            timeout=timeout if timeout is not None else config.timeout,
            connect_timeout=connect_timeout
            if connect_timeout is not None
            else config.connect_timeout,
            retry=policy,
            rate_limit=config.rate_limit if isinstance(rate_limit, _Unchanged) else rate_limit,
        )
        derived = object.__new__(type(self))
        derived._bind(self._session.derive(new_config), self._storage_transport)
        return derived

    def __repr__(self) -> str:
        state = "closed" if self._session.closed else "open"
        return f"<VisionoClient base_url={self._config.base_url!r} {state}>"

    async def __aenter__(self) -> VisionoClient:
        self._session.http  # noqa: B018 - opens the pool inside the running loop
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in). Safe to call twice."""
        await self._session.aclose()

    @property
    def config(self) -> ClientConfig:
        """The client's frozen settings."""
        return self._config

    @property
    def base_url(self) -> str:
        """The API root in use."""
        return self._config.base_url

    @property
    def session(self) -> Session:
        """The session core every resource calls through."""
        return self._session

    @property
    def http(self) -> aiohttp.ClientSession:
        """The shared aiohttp session, for downloads from storage hosts (it carries no key)."""
        return self._session.http

    @property
    def storage_transport(self) -> StorageTransport | None:
        """The ``storage_transport`` given to the client, or ``None``: each :meth:`archive`
        run then makes its own (an ``AiohttpTransport`` over :attr:`http_session` when there
        is one, else a ``LeanTransport``), with the run's timeouts and the client's proxy."""
        return self._storage_transport

    @property
    def http_session(self) -> aiohttp.ClientSession | None:
        """The ``aiohttp.ClientSession`` passed as ``http_session``, or ``None`` when the
        client made its own (which then stays for API calls only: it is not storage's)."""
        return self._session.http if self._session.http_is_callers else None

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The last ``X-RateLimit-Limit/Remaining/Reset`` values the API sent."""
        return self._session.rate_limit

    def add_wait_listener(self, listener: WaitListener) -> Callable[[], None]:
        """Be told before the client waits to send an API call.

        ``listener`` is called with a :class:`~visiono_async.WaitNotice` before every wait:
        client-side pacing under the rate limit, a hold until the server's window resets
        (after a 429 or ``X-RateLimit-Remaining: 0``) and the backoff before a retry. It
        runs on the event loop and must not block; an exception it raises is logged, never
        passed to the call. The ``visiono`` command uses this to show long waits.

        Returns:
            A function that removes the listener again.
        """
        return self._session.add_wait_listener(listener)

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._session.closed

    async def stats(self, *, timeout: float | None = None, max_retries: int | None = None) -> Stats:
        """Usage and plan information (``GET /stats``); ``max_retries`` for this call only."""
        return await self._account.stats(timeout=timeout, max_retries=max_retries)

    async def status(
        self, *, timeout: float | None = None, max_retries: int | None = None
    ) -> Status:
        """API health (``GET /status``); ``max_retries`` for this call only."""
        return await self._account.status(timeout=timeout, max_retries=max_retries)

    async def archive(
        self,
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
        template: str = _DEFAULT_TEMPLATE,
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
        """Download every photo of the chosen photo requests and smart links to ``dest``.

        ::

            await client.archive("photos/", Selection(status="submitted"))
            await client.archive("photos/", status="submitted")       # the same, shorthand

        With no selection, every photo request and smart link is archived. Files are
        verified, written to a temp file and renamed, and recorded in a manifest in ``dest``
        so that a re-run downloads only what is new. This is
        :func:`visiono_async.download.archive` with this client; the options are the same.

        Args:
            dest: The destination folder (created if missing).
            selection: What to archive (a :class:`~visiono_async.Selection`).
            photo_requests: Shorthand for ``Selection(photo_requests=...)``: ids to archive.
            smart_links: Shorthand: smart link ids to archive.
            status: Shorthand: the photo requests with this status.
            created_after: Shorthand: ... created after this time (naive means UTC).
            created_before: Shorthand: ... created before this time.
            is_active: Shorthand: the smart links that are (or are not) active.
            tags: Shorthand: the smart links with any of these tags.
            source: A custom signed-URL source instead of Visiono's (not with a selection).
            concurrency: Downloads in flight at once.
            variant: ``"original"``, ``"thumbnail"`` or ``"both"``.
            template: The naming template, by default
                ``{photo_request_id}/{item_id}_{submission_id}{ext}``.
            sidecar: Also write a JSON file of each photo's metadata.
            fsync: Flush every file to disk before it gets its final name.
            on_progress: Called with every progress event.
            progress: Show a progress bar on the terminal.
            lookahead: ``download-urls`` calls in flight at once, ahead of the downloads.
            refresh_margin: Seconds of validity a URL needs when its file starts.
            retry: The retry policy of file fetches (``DOWNLOAD_RETRY`` by default; API
                calls keep this client's own).
            max_attempts: Shorthand for ``retry``: attempts per file.
            backoff: Shorthand for ``retry``: the first backoff ceiling in seconds.
            read_timeout: Seconds without a byte from storage before an attempt fails.
            file_timeout: Seconds one file may take, all attempts together.
            chunk_size: Bytes per write to disk.
            http: An ``aiohttp.ClientSession`` to fetch storage with.
            transport: The ``StorageTransport`` to fetch storage with (it stays yours);
                this client's ``storage_transport`` when None.
            settings: Full fetch settings; overrides the individual tuning options.
            max_wait: Seconds the run may wait in all for the API budget; ``None``: as
                long as it takes.
            shared_dest: Let other runs archive into ``dest`` at the same time.

        Returns:
            The report: downloaded, skipped, failed (with reasons), bytes, elapsed, API calls.

        Raises:
            ArchiveError: The run could not go on (see ``download.archive``).
            TypeError: Options that exclude each other given together, such as
                ``selection`` and ``status``.
            ValueError: A bad option or selection.
        """
        from .download import archive

        return await archive(
            self,
            dest,
            selection,
            photo_requests=photo_requests,
            smart_links=smart_links,
            status=status,
            created_after=created_after,
            created_before=created_before,
            is_active=is_active,
            tags=tags,
            source=source,
            concurrency=concurrency,
            variant=variant,
            template=template,
            sidecar=sidecar,
            fsync=fsync,
            on_progress=on_progress,
            progress=progress,
            lookahead=lookahead,
            refresh_margin=refresh_margin,
            retry=retry,
            max_attempts=max_attempts,
            backoff=backoff,
            read_timeout=read_timeout,
            file_timeout=file_timeout,
            chunk_size=chunk_size,
            http=http,
            transport=transport,
            settings=settings,
            max_wait=max_wait,
            shared_dest=shared_dest,
        )
