"""The session core: one aiohttp session, auth, retries, rate-limit pacing and error mapping.

Every API call of every resource goes through :meth:`Session.request`. Downloads from storage
hosts share the connection pool (:attr:`Session.http`) but never carry the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import enum
import json as jsonlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

import aiohttp
import anyio
import attrs

from ._config import ClientConfig
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ProxyError,
    RateLimitError,
    VisionoError,
    error_for_status,
)
from ._proxy import ProxyURL, url_origin
from ._ratelimit import (
    Budget,
    Pacer,
    PacingTooLongError,
    RateLimitInfo,
    WaitListener,
    WaitNotice,
    WaitReason,
    parse_retry_after,
)

__all__ = [
    "APIResponse",
    "Recover",
    "Session",
    "build_api_error",
    "capture_responses",
    "encode_params",
]

logger = logging.getLogger("visiono_async")
send_logger = logging.getLogger("visiono_async.send")
"""Each attempt as it is sent (debug): separate so a terse log can leave it out."""

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")


class _Secret:
    """A string that never shows itself in a repr, str or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


@attrs.frozen
class APIResponse:
    """One successful API response, with its JSON envelope taken apart.

    Attributes:
        status: The HTTP status (2xx).
        body: The whole parsed JSON body (None for an empty body).
        data: ``body["data"]`` when the body is an object with ``data``, else the body.
        meta: ``body["meta"]``, or an empty mapping.
        links: ``body["links"]``, or an empty mapping.
        headers: The response headers (case-insensitive).
        request_id: Visiono's request id, from ``meta.request_id`` or ``X-Request-Id``.
        received_at: When the request that got this answer was sent (aware UTC). Expiry times
            computed from it err on the early side.
    """

    status: int
    body: Any
    data: Any
    meta: Mapping[str, Any]
    links: Mapping[str, Any]
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    received_at: datetime


Recover = Callable[[], Awaitable["APIResponse | None"]]
"""Looks for what a failed create may have made (see ``Session.request``)."""

_CAPTURED: contextvars.ContextVar[list[APIResponse] | None] = contextvars.ContextVar(
    "visiono_async_captured_responses", default=None
)


class capture_responses:
    """Collects every successful API response sent in this context (and its child tasks).

    ``with capture_responses() as responses: await ...`` leaves in ``responses`` the
    answers in the order they arrived; the raw-response wrappers are built on it.
    """

    def __init__(self) -> None:
        self.responses: list[APIResponse] = []
        self._token: contextvars.Token[list[APIResponse] | None] | None = None

    def __enter__(self) -> list[APIResponse]:
        self._token = _CAPTURED.set(self.responses)
        return self.responses

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        _CAPTURED.reset(self._token)


class _Shared:
    """What every session derived from one client shares: the pool and the server's limits."""

    def __init__(self, http_session: aiohttp.ClientSession | None) -> None:
        self.http = http_session
        self.owns_http = http_session is None
        self.closed = False
        self.rate_limit = RateLimitInfo()


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Query parameters as strings: None dropped, bools lower-case, datetimes ISO 8601, lists comma-joined."""
    encoded: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        text = _encode_value(value)
        if text is not None:
            encoded.append((key, text))
    return encoded


def _encode_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.isoformat()
    if isinstance(value, enum.Enum):
        return _encode_value(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        parts = [p for p in (_encode_value(v) for v in value) if p is not None]
        return ",".join(sorted(parts) if isinstance(value, (set, frozenset)) else parts)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_NOT_JSON = object()


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return jsonlib.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _snippet(raw: bytes, secret: str | None, limit: int = 200) -> str:
    text = raw[:4096].decode("utf-8", errors="replace")
    text = _SPACE_RE.sub(" ", _TAG_RE.sub(" ", text)).strip()
    if secret:
        text = text.replace(secret, "<redacted>")
    return text[:limit] + ("..." if len(text) > limit else "")


def _field_errors(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for field, messages in value.items():
        if isinstance(messages, (list, tuple)):
            errors[str(field)] = [str(m) for m in messages]
        elif messages is not None:
            errors[str(field)] = [str(messages)]
    return errors


def _request_id(body: Any, headers: Mapping[str, str]) -> str | None:
    if isinstance(body, Mapping):
        meta = body.get("meta")
        if isinstance(meta, Mapping) and isinstance(meta.get("request_id"), str):
            return str(meta["request_id"])
    value = headers.get("X-Request-Id")
    return str(value) if value is not None else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After``, else a used-up window's reset."""
    wait = parse_retry_after(headers.get("Retry-After"))
    if wait is not None:
        return wait
    info = RateLimitInfo.from_headers(headers)
    if info is not None and info.remaining == 0:
        return info.seconds_until_reset()
    return None


def build_api_error(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    method: str | None = None,
    path: str | None = None,
    secret: str | None = None,
) -> APIError:
    """The typed error for an error response, from either of Visiono's error shapes.

    ``{"error": {"code", "message", "details"}}`` and the framework style
    ``{"message", "errors"}`` both parse; a body that is not JSON (a proxy's HTML page)
    gives an ``APIError`` whose message describes the body.
    """
    body = _parse_json(raw)
    code: str | None = None
    message: str | None = None
    details: dict[str, list[str]] = {}
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            code = str(err["code"]) if err.get("code") else None
            message = err.get("message") if isinstance(err.get("message"), str) else None
            details = _field_errors(err.get("details"))
        elif isinstance(err, str):
            message = err
        if message is None and isinstance(body.get("message"), str):
            message = str(body["message"])
        if not details:
            details = _field_errors(body.get("errors"))
        if code is None and status == 422 and details:
            code = "validation_error"
    elif body is _NOT_JSON or raw.strip():
        content_type = headers.get("Content-Type", "unknown content type")
        message = (
            f"the server answered with a non-JSON body ({content_type}): {_snippet(raw, secret)!r}"
        )
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "error"
    cls = error_for_status(status)
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "details": details,
        "request_id": _request_id(body if body is not _NOT_JSON else None, headers),
        "headers": dict(headers),
        "method": method,
        "path": path,
        "body": body if body is not _NOT_JSON else None,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=_retry_after(headers), **kwargs)
    return cls(message, **kwargs)


class Session:
    """Sends API calls: auth header, timeouts, retries, pacing, typed errors.

    One ``Session`` belongs to one :class:`~visiono_async.VisionoClient`. It owns its
    ``aiohttp.ClientSession`` unless one was passed in.
    """

    def __init__(
        self,
        api_key: str,
        config: ClientConfig,
        *,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_key = _Secret(api_key)
        self.config = config
        self._shared = _Shared(http_session)
        self._root = True
        self._closed = False
        self._pacer = _budget(config, api_key)
        self._owns_pacer = True
        self._calls = _Counter()
        self._wait_listeners: list[WaitListener] = []
        self.proxy = config.proxy.for_url(config.base_url)
        """The proxy API calls go through (``config.proxy`` asked for the base URL), or None."""
        auth = self.proxy.authorization if self.proxy is not None else None
        tunnel = config.base_url.startswith("https://")
        # Credentials for the proxy only: on the CONNECT of an https tunnel (aiohttp's
        # proxy_headers), or on the request itself in absolute form for http, which the
        # proxy consumes (aiohttp sends proxy_headers on CONNECT only).
        self._proxy_headers = {"Proxy-Authorization": auth} if auth and tunnel else None
        self._proxy_auth_line = {"Proxy-Authorization": auth} if auth and not tunnel else {}
        self._api_origin = _host_port(config.base_url)

    def __repr__(self) -> str:
        return f"<Session base_url={self.config.base_url!r} closed={self.closed}>"

    def derive(self, config: ClientConfig) -> Session:
        """A session with other settings over this one's connection pool.

        The new session shares the pool, the last rate-limit values seen and, when
        ``config.rate_limit`` equals this session's, the pacer (one budget for one key);
        a different ``rate_limit`` gets a pacer of its own. It counts its own API calls,
        and closing it leaves the pool open: the session that made the pool closes it.

        Raises:
            ValueError: ``config`` changes the base URL, the proxy, the user agent or the
                connection limit, which belong to the pool.
        """
        for name in ("base_url", "proxy", "user_agent", "connection_limit"):
            if getattr(config, name) != getattr(self.config, name):
                raise ValueError(f"{name} cannot differ from the client's own (it is the pool's)")
        derived = copy.copy(self)
        derived.config = config
        derived._root = False
        derived._closed = False
        derived._calls = _Counter()
        derived._owns_pacer = config.rate_limit != self.config.rate_limit
        if derived._owns_pacer:
            derived._pacer = _budget(config, self._api_key.reveal())
        return derived

    def for_call(self, max_retries: int | None) -> Session:
        """This session, or for one call a view of it retrying at most ``max_retries`` times.

        The view shares everything with this session (pool, pacer, call count) but the
        retry count.

        Raises:
            ValueError: ``max_retries`` is negative.
        """
        if max_retries is None or max_retries == self.config.retry.max_retries:
            return self
        retry = attrs.evolve(self.config.retry, max_retries=max_retries)
        view = copy.copy(self)
        view.config = attrs.evolve(self.config, retry=retry)
        view._owns_pacer = False
        return view

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The last ``X-RateLimit-*`` values seen (by this session or one derived from it)."""
        return self._shared.rate_limit

    @property
    def api_calls(self) -> int:
        """API call attempts this session sent so far (retries included)."""
        return self._calls.value

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called, here or on the session this one came from."""
        return self._closed or self._shared.closed

    @property
    def http_is_callers(self) -> bool:
        """Whether the aiohttp session was passed in (``http_session=``) rather than made here."""
        return not self._shared.owns_http

    @property
    def http(self) -> aiohttp.ClientSession:
        """The shared aiohttp session (connection pool). It carries no API key."""
        self._check_open()
        shared = self._shared
        if shared.http is None:
            connector = aiohttp.TCPConnector(limit=self.config.connection_limit, ttl_dns_cache=300)
            shared.http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=self.config.connect_timeout),
                headers={"User-Agent": self.config.user_agent},
            )
        return shared.http

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                "This VisionoClient is closed; create a new one (or use it inside 'async with')"
            )
        if self._shared.closed:
            raise RuntimeError(
                "The VisionoClient this one was made from (with_options) is closed, and with "
                "it the connection pool they share"
            )

    async def aclose(self) -> None:
        """Close the connection pool if this session created it. Safe to call twice.

        A session made by :meth:`derive` only marks itself closed: the pool stays open for
        the session it came from.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_pacer and self._pacer is not None:
            await self._pacer.aclose()
        if not self._root:
            return
        shared = self._shared
        shared.closed = True
        if shared.owns_http and shared.http is not None:
            with anyio.CancelScope(shield=True):
                await shared.http.close()

    def add_wait_listener(self, listener: WaitListener) -> Callable[[], None]:
        """Call ``listener`` with a :class:`WaitNotice` before every wait; returns a remover."""
        self._wait_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._wait_listeners.remove(listener)

        return remove

    def _notify_wait(self, reason: WaitReason, seconds: float, method: str, path: str) -> None:
        if not self._wait_listeners:
            return
        notice = WaitNotice.starting_now(reason, seconds, method, path)
        for listener in list(self._wait_listeners):
            try:
                listener(notice)
            except Exception:  # a display callback must never fail the call
                logger.exception("wait listener %r failed", listener)

    async def _observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Record the rate-limit headers and hold the budget once for what the server says.

        A 429 states its wait twice (``Retry-After`` and a used-up window's reset): the
        budget is held once, for the longer of the two, so that another client on the same
        budget books one wait, not one per hold that moves the end a few milliseconds.
        """
        info = RateLimitInfo.from_headers(headers)
        if info is not None:
            self._shared.rate_limit = info
        if self._pacer is None:
            return
        reset = info.seconds_until_reset() if info is not None and info.remaining == 0 else None
        asked = parse_retry_after(headers.get("Retry-After")) if status == 429 else None
        wait = max(reset or 0.0, asked or 0.0)
        if wait:
            await self._pacer.hold(wait)

    async def _pace(self, method: str, path: str) -> None:
        if self._pacer is None:
            return
        policy = self.config.retry
        try:
            waited = await self._pacer.acquire(
                policy.max_wait,
                lambda delay, reason: self._notify_wait(reason, delay, method, path),
                max_reset_wait=policy.server_wait_limit,
            )
        except PacingTooLongError as exc:
            if exc.reason == "server_reset":
                message = (
                    "the server reported its rate-limit window used up; waiting for its reset "
                    f"would take {exc.delay:.1f}s, longer than max_reset_wait={exc.limit:.1f}s"
                )
            else:
                message = (
                    f"the client-side rate limit would need a wait of {exc.delay:.1f}s, longer "
                    f"than max_wait={exc.limit:.1f}s"
                )
            raise RateLimitError(
                message,
                retry_after=exc.delay,
                status_code=429,
                code="client_rate_limited",
                method=method,
                path=path,
            ) from None
        if waited:
            logger.debug("paced %s %s for %.3fs", method, path, waited)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        recover: Recover | None = None,
    ) -> APIResponse:
        """Send one API call, with retries, and return its parsed response.

        Args:
            method: The HTTP method.
            path: The path below the base URL, starting with ``/``.
            params: Query parameters (see :func:`encode_params`).
            json: A JSON-serialisable request body.
            timeout: Seconds for each attempt; the client's default when None.
            idempotency_key: Sent as ``Idempotency-Key``; it makes a POST safe to retry.
            recover: For a create: looks for the object the call may already have made.
                After an ambiguous failure (a 5xx or a timeout or reset once the request was
                sent) it runs before any resend; what it finds is returned instead, and the
                call is sent again only when it finds nothing. If it fails, the original
                error is raised rather than risking a duplicate. With it, a POST is safe to
                resend without trusting ``Idempotency-Key`` (which Visiono does not document).

        Returns:
            The response, its envelope taken apart.

        Raises:
            APIError: The API answered with an error status (a subclass per status).
            APIConnectionError: The call could not be completed (``APITimeoutError`` on timeout).
            RuntimeError: The client is closed.
        """
        self._check_open()
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        method = method.upper()
        url = self.config.base_url + path
        key = self._api_key.reveal()
        headers = {"X-API-Key": key, "Accept": "application/json", **self._proxy_auth_line}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        data: bytes | None = None
        if json is not None:
            data = jsonlib.dumps(json, default=_json_default).encode()
            headers["Content-Type"] = "application/json"
        query = encode_params(params)
        client_timeout = aiohttp.ClientTimeout(
            total=timeout if timeout is not None else self.config.timeout,
            connect=self.config.connect_timeout,
        )
        policy = self.config.retry
        safe_to_resend = (
            method in _IDEMPOTENT_METHODS or idempotency_key is not None or recover is not None
        )
        attempt = 0
        first_sent: float | None = None
        while True:
            await self._pace(method, path)
            send_logger.debug(
                "%s %s: sending attempt %d (query %s, %d body bytes)",
                method, path, attempt + 1, query, len(data) if data is not None else 0,
            )  # fmt: skip
            sent_at = datetime.now(timezone.utc)
            started = anyio.current_time()
            if first_sent is None:
                first_sent = started
            self._calls.value += 1
            try:
                async with self.http.request(
                    method,
                    url,
                    params=query,
                    data=data,
                    headers=headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                    proxy=self.proxy.url if self.proxy is not None else None,
                    proxy_headers=self._proxy_headers,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                error, sent = _connection_error(exc, method, path, self.proxy, self._api_origin)
                retryable = (safe_to_resend or not sent) and _transient(exc)
                if not retryable or attempt >= policy.max_retries:
                    # The time of every attempt and wait together, not of the last one.
                    logger.warning(
                        "%s %s failed after %d attempt(s) in %.3fs: %s",
                        method, path, attempt + 1, anyio.current_time() - first_sent, error,
                    )  # fmt: skip
                    raise error from exc
                if recover is not None and sent:
                    found = await self._recover(recover, method, path, error)
                    if found is not None:
                        return found
                wait = policy.backoff(attempt)
                logger.info(
                    "%s %s attempt %d failed (%s); retrying in %.2fs",
                    method, path, attempt + 1, type(exc).__name__, wait,
                )  # fmt: skip
                self._notify_wait("retry_backoff", wait, method, path)
                await anyio.sleep(wait)
                attempt += 1
                continue

            elapsed = anyio.current_time() - started
            if status == 407 and self.proxy is not None:
                # An http:// base URL goes through the proxy in absolute form: its refusal
                # is an answer, not a failed CONNECT. Resending will not change it.
                raise ProxyError(
                    f"{method} {path}: proxy {self.proxy} refused the call to "
                    f"{self._api_origin}: 407 Proxy Authentication Required"
                    + _credentials_hint(self.proxy),
                    proxy=self.proxy.url,
                    status_code=407,
                )
            await self._observe(status, resp_headers)
            if 200 <= status < 300:
                body = _parse_json(raw)
                request_id = _request_id(body if body is not _NOT_JSON else None, resp_headers)
                logger.debug(
                    "%s %s -> %d (attempt %d, %.3fs, request_id=%s)",
                    method, path, status, attempt + 1, elapsed, request_id,
                )  # fmt: skip
                if body is _NOT_JSON:
                    content_type = resp_headers.get("Content-Type", "unknown content type")
                    raise APIError(
                        "expected a JSON body but the server answered with "
                        f"{content_type}: {_snippet(raw, key)!r}",
                        status_code=status,
                        code="invalid_response",
                        request_id=request_id,
                        headers=dict(resp_headers),
                        method=method,
                        path=path,
                    )
                answer = _response(status, body, resp_headers, request_id, sent_at)
                captured = _CAPTURED.get()
                if captured is not None:
                    captured.append(answer)
                return answer

            if 300 <= status < 400:
                location = resp_headers.get("Location", "?")
                raise APIError(
                    f"unexpected redirect to {location}; check base_url (API calls do not "
                    "follow redirects so that the API key is never sent to another host)",
                    status_code=status,
                    code="redirect",
                    headers=dict(resp_headers),
                    method=method,
                    path=path,
                )

            api_error = build_api_error(
                status, raw, resp_headers, method=method, path=path, secret=key
            )
            logger.debug(
                "%s %s -> %d (attempt %d, %.3fs, request_id=%s)",
                method, path, status, attempt + 1, elapsed, api_error.request_id,
            )  # fmt: skip
            if not policy.is_retryable_status(method, status, idempotent=safe_to_resend):
                raise api_error
            server_wait = _retry_after(resp_headers)
            if attempt >= policy.max_retries:
                raise api_error
            wait = policy.backoff(attempt, server_wait)
            # The server's own reset is waited out up to max_reset_wait; other waits max_wait.
            wait_limit = policy.server_wait_limit if status == 429 else policy.max_wait
            if wait > wait_limit:
                logger.info(
                    "%s %s -> %d: server asks for %.1fs, more than the %.1fs limit; giving up",
                    method, path, status, wait, wait_limit,
                )  # fmt: skip
                raise api_error
            if recover is not None and status != 429:  # a 429 was refused, not acted on
                found = await self._recover(recover, method, path, api_error)
                if found is not None:
                    return found
            logger.info(
                "%s %s -> %d (attempt %d); retrying in %.2fs",
                method, path, status, attempt + 1, wait,
            )  # fmt: skip
            reason: WaitReason = (
                "server_reset" if status == 429 and server_wait is not None else "retry_backoff"
            )
            self._notify_wait(reason, wait, method, path)
            await anyio.sleep(wait)
            attempt += 1

    async def _recover(
        self, recover: Recover, method: str, path: str, error: VisionoError
    ) -> APIResponse | None:
        """What ``recover`` finds after an ambiguous failure; re-raises ``error`` if it fails."""
        try:
            found = await recover()
        except VisionoError as exc:
            logger.warning(
                "%s %s: could not check whether the failed call had acted (%s); not resending",
                method, path, exc,
            )  # fmt: skip
            raise error from exc
        if found is not None:
            logger.info("%s %s: the failed call had acted; returning what it created", method, path)
        return found


def _budget(config: ClientConfig, api_key: str) -> Budget | None:
    """The rate-limit budget the config asks for: none, per process, or shared in Redis."""
    limits = config.rate_limit
    if limits is None:
        return None
    if limits.redis_url is None:
        return Pacer(limits)
    from ._shared_budget import RedisBudget

    return RedisBudget(limits, api_key)


def _response(
    status: int, body: Any, headers: Mapping[str, str], request_id: str | None, sent_at: datetime
) -> APIResponse:
    if isinstance(body, Mapping) and "data" in body:
        data = body["data"]
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
        links = body.get("links") if isinstance(body.get("links"), Mapping) else {}
    else:
        data, meta, links = body, {}, {}
    return APIResponse(
        status=status,
        body=body,
        data=data,
        meta=meta or {},
        links=links or {},
        headers=headers,
        request_id=request_id,
        received_at=sent_at,
    )


_PROXY_REFUSALS = frozenset({403, 407})
"""A proxy's answers to CONNECT that mean "never": forbidden, or credentials needed."""


def _credentials_hint(proxy: ProxyURL) -> str:
    if proxy.username is not None:
        return " (the proxy rejected the credentials)"
    return " (the proxy needs credentials: proxy='http://user:password@host:port')"


def _host_port(url: str) -> str:
    _scheme, host, port = url_origin(url) or ("", "", 0)
    return f"{host}:{port}"


def _transient(exc: BaseException) -> bool:
    """Certificate and TLS failures, and a proxy's refusal, do not go away by retrying."""
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return exc.status not in _PROXY_REFUSALS
    return not isinstance(
        exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, aiohttp.InvalidURL)
    )


def _connection_error(
    exc: BaseException, method: str, path: str, proxy: ProxyURL | None, origin: str
) -> tuple[APIConnectionError, bool]:
    """The typed error for a failed call, and whether the request may have reached the server."""
    where = f"{method} {path}"
    if proxy is not None and isinstance(exc, aiohttp.ClientHttpProxyError):
        message = f"{where}: proxy {proxy} refused CONNECT to {origin}: {exc.status} {exc.message}"
        if exc.status == 407:
            message += _credentials_hint(proxy)
        return ProxyError(message, proxy=proxy.url, status_code=exc.status), False
    if proxy is not None and isinstance(exc, aiohttp.ClientProxyConnectionError):
        message = f"{where}: could not connect to proxy {proxy}: {exc.os_error or exc}"
        return ProxyError(message, proxy=proxy.url), False
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"{where}: timed out connecting to the API"), False
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return APITimeoutError(f"{where}: the API did not answer in time"), True
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"{where}: could not connect: {exc.os_error or exc}"), False
    return APIConnectionError(f"{where}: {type(exc).__name__}: {exc}"), True
