"""``VisionoEmulator``: a real HTTP server on loopback that behaves like the Visiono API."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, get_args

import anyio
from aiohttp import web

from ._app import build_app
from ._backend import Backend
from ._clock import EmulatorClock
from ._faults import FaultInjector
from ._http import DeleteAnswer, Pagination
from ._recording import RecordedRequest
from ._routes_control import add_control_routes
from ._storage import PhotoStorage
from ._webhooks import TIMEOUT as WEBHOOK_TIMEOUT
from ._webhooks import Delivery

__all__ = ["VisionoEmulator", "serve"]


class VisionoEmulator:
    """An in-memory Visiono served over HTTP on ``127.0.0.1``, for tests and demos.

    Use it as an async context manager, or call :meth:`start` and :meth:`aclose`::

        async with VisionoEmulator() as emu:
            key = emu.create_api_key()
            ...  # point a client at emu.base_url with key

    Args:
        host: The address to bind.
        port: The port to bind; 0 picks a free one.
        rate_limit_per_minute: Requests per key per 60 s window.
        rate_limit_per_hour: Requests per key per 3600 s window.
        rate_limit_window_scale: Shortens both windows, for tests (0.02: a 1.2 s minute and
            a 72 s hour); the emulator's choice, as are the milliseconds it then puts in
            ``X-RateLimit-Reset`` and ``Retry-After``. 1 (the default) is Visiono's.
        url_ttl: How long signed download URLs stay valid, in seconds.
        storage: Where photo bytes live; ``None`` serves them from the emulator itself. The
            emulator starts and closes the storage with itself.
        webhook_time_factor: Multiplies the webhook retry delays (1, 5 and 30 minutes),
            e.g. 0.001 in tests.
        webhook_timeout: Seconds a receiver has to answer each delivery attempt before it
            counts as failed and is retried: Visiono's 30 s by default, whatever the time
            factor (a shorter one turned a slow first answer on a loaded test machine into
            a retry). Set it low to test a slow receiver.
        allow_http_webhooks: Accept ``http://`` webhook URLs on loopback hosts.
        clock: The emulator clock; by default a new :class:`EmulatorClock` running at real
            time. Pass ``EmulatorClock(frozen_at=...)`` to start frozen, or call
            ``emulator.clock.freeze()`` later.
        delete_answer: How DELETE calls answer: ``"object"`` (200 with the object, the
            default), ``"empty"`` (200, no body) or ``"no_content"`` (204). Visiono does
            not document its DELETE bodies: each form is the emulator's choice, there so
            that code can be tested against all three. Settable later as
            :attr:`delete_answer`.
        pagination: How lists are paged. Visiono does not document it, so each form is
            the emulator's choice: ``"meta"`` (the default: ``meta.current_page``,
            ``last_page``, ``per_page``, ``total`` and ``links``), ``"links"`` (only
            ``links.next``), ``"bare"`` (one bare list of everything), ``"total"``
            (``meta.total`` and ``per_page``, no page number), ``"has_more"`` (a top-level
            flag), ``"next_page"`` (a top-level page number or null), ``"nested"``
            (``pagination: {page, pages}``) and ``"has_more_unpaged"`` (says more follow but
            ignores ``?page=``: no client can page through it). Settable later as
            :attr:`pagination`.
        honor_idempotency_keys: Replay the first answer to an ``Idempotency-Key`` for 24 h
            (the default, the emulator's choice). Visiono does not document the header:
            ``False`` ignores it, as the real API may, so that code can be tested for
            creates that are safe without it. Settable later.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_minute: int = 60,
        rate_limit_per_hour: int = 1000,
        rate_limit_window_scale: float = 1.0,
        url_ttl: float = 86400.0,
        storage: PhotoStorage | None = None,
        webhook_time_factor: float = 1.0,
        webhook_timeout: float = WEBHOOK_TIMEOUT,
        allow_http_webhooks: bool = True,
        clock: EmulatorClock | None = None,
        delete_answer: DeleteAnswer = "object",
        pagination: Pagination = "meta",
        honor_idempotency_keys: bool = True,
    ) -> None:
        self._host = host
        self._port = port
        self._backend = Backend(
            rate_limit_per_minute=rate_limit_per_minute,
            rate_limit_per_hour=rate_limit_per_hour,
            rate_limit_window_scale=rate_limit_window_scale,
            url_ttl=url_ttl,
            storage=storage,
            webhook_time_factor=webhook_time_factor,
            webhook_timeout=webhook_timeout,
            allow_http_webhooks=allow_http_webhooks,
            clock=clock,
            delete_answer=delete_answer,
            pagination=pagination,
            honor_idempotency_keys=honor_idempotency_keys,
        )
        self._runner: web.AppRunner | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the storage and webhook deliveries, then bind the port and serve.

        Raises:
            RuntimeError: The emulator is already running.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        backend = self._backend
        await backend.storage.start()
        try:
            await backend.webhooks.start()
            try:
                self._runner = await self._serve()
            except BaseException:
                await backend.webhooks.aclose()
                raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await backend.storage.aclose()
            raise

    async def _serve(self) -> web.AppRunner:
        app = build_app(self._backend)
        add_control_routes(app, self)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._backend.root_url = f"http://{host}:{self._port}"
        return runner

    async def aclose(self) -> None:
        """Stop serving, cancel pending webhook deliveries, close the storage.

        Closing twice is fine.
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        backend = self._backend
        try:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
        finally:
            try:
                await backend.webhooks.aclose()
            finally:
                with anyio.CancelScope(shield=True):
                    await backend.storage.aclose()

    async def __aenter__(self) -> VisionoEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- addresses --------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if not self._backend.root_url:
            raise RuntimeError("the emulator is not running: use 'async with' or await start()")
        return self._backend.root_url

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v1``; the same API also answers under ``/v1``."""
        return self.root_url + "/api/v1"

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def tenant_id(self) -> str:
        """The account id sent as ``X-Visiono-Tenant-Id`` with webhook deliveries."""
        return self._backend.tenant_id

    # -- keys and time ----------------------------------------------------------------------

    def create_api_key(self, scopes: Iterable[str] | None = None, plan: str = "pro") -> str:
        """A new key (``vsk_test_`` and 32 hex digits) for this emulator's account.

        Every key sees the same account data; the plan decides email features and what
        ``/stats`` reports.

        Args:
            scopes: The scopes to grant; ``None`` grants all of them.
            plan: ``"free"``, ``"pro"`` or ``"business"``.

        Raises:
            ValueError: An unknown scope or plan.
        """
        return self._backend.store.create_api_key(scopes, plan)

    def revoke_api_key(self, key: str) -> None:
        """Make ``key`` answer 401 from now on.

        Raises:
            ValueError: The key was not created by this emulator.
        """
        self._backend.store.revoke_api_key(key)

    @property
    def delete_answer(self) -> DeleteAnswer:
        """How DELETE calls answer (``"object"``, ``"empty"`` or ``"no_content"``)."""
        return self._backend.delete_answer

    @delete_answer.setter
    def delete_answer(self, answer: DeleteAnswer) -> None:
        if answer not in ("object", "empty", "no_content"):
            raise ValueError(f"delete_answer must be object, empty or no_content, got {answer!r}")
        self._backend.delete_answer = answer

    @property
    def honor_idempotency_keys(self) -> bool:
        """Whether ``Idempotency-Key`` replays the first answer (see the argument)."""
        return self._backend.honor_idempotency_keys

    @honor_idempotency_keys.setter
    def honor_idempotency_keys(self, honor: bool) -> None:
        self._backend.honor_idempotency_keys = bool(honor)

    @property
    def pagination(self) -> Pagination:
        """How lists are paged (see the ``pagination`` argument)."""
        return self._backend.pagination

    @pagination.setter
    def pagination(self, style: Pagination) -> None:
        if style not in get_args(Pagination):
            raise ValueError(f"pagination must be one of {get_args(Pagination)}, got {style!r}")
        self._backend.pagination = style

    @property
    def clock(self) -> EmulatorClock:
        """The emulator clock: :meth:`~EmulatorClock.freeze` it, :meth:`~EmulatorClock.advance` it."""
        return self._backend.clock

    def now(self) -> float:
        """The emulator clock's current unix time (``clock.now()``)."""
        return self._backend.clock.now()

    def advance_time(self, seconds: float) -> None:
        """Move the emulator clock forward (``clock.advance``): request and URL expiry, webhook
        retries due by then; rate limits use real time and are not affected."""
        self._backend.clock.advance(seconds)

    # -- inspection -------------------------------------------------------------------------

    @property
    def faults(self) -> FaultInjector:
        """Fault injection on API and storage routes."""
        return self._backend.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request served, in arrival order."""
        return self._backend.requests

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many recorded requests match ``method`` and contain ``path_contains``."""
        return sum(
            1
            for record in self._backend.requests
            if (method is None or record.method == method.upper())
            and (path_contains is None or path_contains in record.path)
        )

    @property
    def sent_emails(self) -> list[dict[str, str]]:
        """``{"photo_request_id", "to"}`` of every email the emulator "sent"."""
        return self._backend.store.sent_emails

    # -- webhooks ---------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery so far, in the order events happened."""
        return self._backend.webhooks.deliveries

    async def wait_for_deliveries(
        self, count: int | None = None, *, timeout: float = 5.0
    ) -> list[Delivery]:
        """Wait until deliveries are done (delivered, or every attempt failed).

        Args:
            count: How many deliveries must be done; ``None`` waits for all existing ones.
            timeout: Seconds (real time) to wait at most.

        Returns:
            Every delivery so far (done or not), in event order.

        Raises:
            TimeoutError: ``count`` deliveries were not done within ``timeout``.
        """
        return await self._backend.webhooks.wait(count, timeout)

    # -- simulated recipients ---------------------------------------------------------------

    async def simulate_view(self, photo_request_id: str) -> None:
        """The recipient opens the link; the first view sets ``viewed_at``.

        Raises:
            ValueError: Unknown request, or it is cancelled or expired.
        """
        store = self._backend.store
        store.expire_due()
        pr = store.find_photo_request(photo_request_id)
        if pr is None:
            raise ValueError(f"no photo request with id or code {photo_request_id!r}")
        store.view_photo_request(pr)

    async def simulate_submission(
        self,
        photo_request_id: str,
        item_id: str | None = None,
        *,
        content: bytes | None = None,
        gps: tuple[float, float] | None = None,
        mime_type: str = "image/jpeg",
        size: int | None = None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """The recipient uploads one photo.

        Args:
            photo_request_id: The request's id or code.
            item_id: The item to fill; ``None`` picks the first item without a photo.
            content: The photo; ``None`` uses ``sample_jpeg(size or 50_000)``.
            gps: ``(latitude, longitude)`` to attach.
            mime_type: The photo's type.
            size: The size of the generated photo (must match ``content`` if both given).
            file_name: The uploaded file's name (default ``IMG_000N.jpg``).

        Returns:
            The submission as ``GET .../submissions`` shows it.

        Raises:
            ValueError: Unknown request or item, a request that is expired, cancelled or
                complete, an item that already has a photo, or missing required GPS.
        """
        store = self._backend.store
        sub = await store.submit_photo(
            photo_request_id,
            item_id,
            content=content,
            gps=gps,
            mime_type=mime_type,
            size=size,
            file_name=file_name,
        )
        return self._backend.serializer.submission(sub)

    def enable_workflow_mode(
        self, smart_link_id: str, *, redirect_url: str, secret: str | None = None
    ) -> str:
        """Switch a smart link to Workflow Mode (the emulator's own control: Visiono's API
        documents no field for it).

        Then ``GET /s/{slug}?uv&src&ref&ts&sig`` on :attr:`root_url` checks a signed entry
        link (400 for missing parameters, an invalid signature or a link older than an
        hour; 404 for a link not in Workflow Mode), and ``POST /s/{slug}?...`` with a photo
        as the body uploads through it: the submission is stored, ``submission.created``
        is delivered in the documented shape, and the answer is a 303 to ``redirect_url``
        with the signed ``sub, uv, ref, cnt, ts, sig``.

        Args:
            smart_link_id: The link's id, code or slug.
            redirect_url: Where the recipient is sent back.
            secret: The workflow secret; a new random one when ``None``.

        Returns:
            The workflow secret.

        Raises:
            ValueError: No such smart link.
        """
        sl = self._backend.store.find_smart_link(smart_link_id)
        if sl is None:
            raise ValueError(f"no smart link with id, code or slug {smart_link_id!r}")
        sl.workflow_secret = secret or "wfs_" + secrets.token_hex(16)
        sl.workflow_redirect_url = redirect_url
        return sl.workflow_secret

    async def simulate_smart_link_submission(
        self,
        smart_link_id: str,
        item_id: str | None = None,
        *,
        unique_value: str = "ABC-123",
        full_name: str | None = None,
        content: bytes | None = None,
        gps: tuple[float, float] | None = None,
        mime_type: str = "image/jpeg",
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """Someone uploads one photo through a smart link (or permanent link).

        Args:
            smart_link_id: The link's id, code or slug.
            item_id: The item to fill; ``None`` is the first item.
            unique_value: What the submitter typed in the unique field (e.g. a plate).
            full_name: The submitter's name (required when the link requires it).
            content: The photo; ``None`` uses a 50 kB ``sample_jpeg``.
            gps: ``(latitude, longitude)`` to attach.
            mime_type: The photo's type.
            file_name: The uploaded file's name.

        Returns:
            The submission (id ``pls_...``) as ``GET .../submissions`` shows it.

        Raises:
            ValueError: Unknown or archived link, unknown item, missing required GPS or
                full name.
        """
        _, sub = await self._backend.store.submit_smart_link_photo(
            smart_link_id,
            item_id,
            unique_value=unique_value,
            full_name=full_name,
            content=content,
            gps=gps,
            mime_type=mime_type,
            file_name=file_name,
        )
        return self._backend.serializer.submission(sub)


async def serve(
    port: int,
    host: str = "127.0.0.1",
    *,
    on_ready: Callable[[VisionoEmulator], None] | None = None,
) -> None:
    """Run an emulator on ``host:port`` until cancelled, printing nothing.

    Args:
        port: The port to bind (0 picks a free one; ``on_ready`` can read it).
        host: The address to bind.
        on_ready: Called once the server listens, e.g. to create a key and print
            ``emu.base_url``.
    """
    async with VisionoEmulator(host=host, port=port) as emu:
        if on_ready is not None:
            on_ready(emu)
        await anyio.sleep_forever()
