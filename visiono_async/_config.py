"""Frozen settings for a client: base URL, timeouts, the retry policy, the rate limit, the proxy."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable

import attrs

from ._proxy import DIRECT, ProxySettings

__all__ = [
    "DEFAULT_BASE_URL",
    "LEGACY_BASE_URL",
    "ClientConfig",
    "RateLimit",
    "RetryPolicy",
    "resolve_api_key",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://www.visiono.io/api/v1"
"""The base URL in Visiono's current docs."""

LEGACY_BASE_URL = "https://api.visio.now/v1"
"""The base URL in Visiono's older docs; it serves the same API."""

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


_BACKOFF_EXPONENT_CAP = 64
"""Doublings after which the ceiling stops growing (``backoff_max`` is long reached by then);
keeps ``2 ** attempt`` finite for any number of retries."""


def _statuses(value: Iterable[int]) -> frozenset[int]:
    """``retry_statuses`` as a frozenset, each an HTTP error status."""
    if isinstance(value, (int, str, bytes)):
        raise TypeError(
            f"retry_statuses must be a collection of statuses such as {{429, 503}}, "
            f"got {type(value).__name__} {value!r}"
        )
    statuses = frozenset(value)
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(
                f"retry_statuses must hold int statuses, got {type(status).__name__} {status!r}"
            )
        if not 400 <= status <= 599:
            raise ValueError(f"retry_statuses must be HTTP error statuses (400-599), got {status}")
    return statuses


@attrs.frozen
class RetryPolicy:
    """When and how long to wait before a failed call is sent again.

    API calls: GET, PUT, PATCH and DELETE are retried on ``retry_statuses`` and on
    connection errors. A POST is retried only where the server cannot have acted on it (a
    429, or a connection that failed before the request was sent), unless it carries an
    idempotency key.

    File fetches of ``archive()`` use the same policy (``FetchSettings.retry``, with
    download defaults of their own: ``visiono_async.download.DOWNLOAD_RETRY``): see
    ``FetchSettings`` for which answers they retry.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        backoff_base: The first backoff ceiling in seconds; it doubles every attempt.
        backoff_max: The largest backoff ceiling in seconds. The wait is drawn uniformly from
            zero to the ceiling ("full jitter") unless the server says how long to wait.
        max_wait: The longest the client sleeps for one wait (a ``Retry-After``, a rate-limit
            reset, or client-side pacing). A longer wait raises ``RateLimitError`` with
            ``retry_after`` instead of sleeping.
        max_reset_wait: The longest the client sleeps for a wait the server itself asked
            for: a 429's ``Retry-After`` or the ``X-RateLimit-Reset`` of a window the server
            reported used up (here or, with a shared budget, in another process). The
            default, 90 s, covers a minute window's reset with room for clock skew; a longer
            wait (the hour window) raises ``RateLimitError`` saying how long it would have
            been. The larger of this and ``max_wait`` applies.
        retry_statuses: The HTTP statuses that are worth retrying; with 500 among them,
            every 5xx is.
    """

    max_retries: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=8.0, validator=_non_negative)
    max_wait: float = attrs.field(default=60.0, validator=_non_negative)
    max_reset_wait: float = attrs.field(default=90.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({408, 429, 500, 502, 503, 504}), converter=_statuses
    )

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the next try, after ``attempt`` retries so far.

        The one backoff of the package, for API calls and file fetches alike: "full
        jitter", a wait drawn uniformly from zero to a ceiling of ``backoff_base * 2 **
        attempt`` capped at ``backoff_max``. A wait the server asked for (``Retry-After``,
        a used-up window's reset) is returned instead, as it is: the caller decides
        whether it is too long (an API call gives up past ``max_wait``, a file fetch waits
        at most ``backoff_max``).

        Args:
            attempt: Retries made so far: 0 before the first retry.
            retry_after: Seconds the server asked to wait, or None.

        Returns:
            Seconds to sleep.

        Raises:
            ValueError: ``attempt`` is negative.
        """
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        if retry_after is not None:
            return max(0.0, retry_after)
        doublings = min(attempt, _BACKOFF_EXPONENT_CAP)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**doublings)
        return random.uniform(0, ceiling)

    @property
    def server_wait_limit(self) -> float:
        """The longest wait the server's own reset may impose (see ``max_reset_wait``)."""
        return max(self.max_wait, self.max_reset_wait)

    def is_retryable_status(self, method: str, status: int, *, idempotent: bool) -> bool:
        """Whether a response with this status may be retried for this method."""
        if status not in self.retry_statuses and not (status >= 500 and 500 in self.retry_statuses):
            return False
        if method.upper() in _IDEMPOTENT_METHODS or idempotent:
            return True
        # A POST that got a 429 was refused before the server acted on it.
        return status == 429


def _fraction(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {value!r}")


@attrs.frozen
class RateLimit:
    """Client-side pacing, so concurrent calls stay under Visiono's limits.

    Without ``redis_url`` the budget belongs to one client (one process). With it, every
    client on any number of processes and machines that uses the same API key and the same
    Redis draws from one budget::

        RateLimit(per_minute=60, per_hour=1000, redis_url="redis://localhost:6379/0")

    (the ``redis`` extra). A 429 or ``X-RateLimit-Remaining: 0`` seen by one of them then
    holds all of them until the server's reset. If Redis cannot be reached, each client
    paces itself locally at ``fallback_share`` of every window, says so once in the log
    (logger ``visiono_async``), never fails a call for it, and shares again once Redis
    answers.

    Attributes:
        per_minute: Calls allowed in any 60 s (Visiono: 60); None for no minute limit.
        per_hour: Calls allowed in any hour (Visiono: 1000); None for no hour limit.
        windows: Further ``(calls, seconds)`` limits, for plans with other windows.
        redis_url: A Redis URL (``redis://``, ``rediss://``, ``unix://``) holding the
            shared budget; None for a per-process budget.
        redis_prefix: The prefix of the Redis keys. The rest of the key is a hash of the
            API key, never the key itself.
        fallback_share: The fraction of each window one process may use while Redis is
            unreachable: 1/N keeps N processes under the limit together (default 1/4).
    """

    per_minute: int | None = 60
    per_hour: int | None = 1000
    windows: tuple[tuple[int, float], ...] = ()
    redis_url: str | None = attrs.field(default=None, repr=False)
    redis_prefix: str = "visiono:budget"
    fallback_share: float = attrs.field(default=0.25, validator=_fraction)

    def all_windows(self) -> list[tuple[int, float]]:
        """Every ``(calls, seconds)`` limit in force."""
        found = list(self.windows)
        if self.per_minute is not None:
            found.append((self.per_minute, 60.0))
        if self.per_hour is not None:
            found.append((self.per_hour, 3600.0))
        for calls, seconds in found:
            if calls < 1 or seconds <= 0:
                raise ValueError(
                    f"a rate-limit window needs calls >= 1 and seconds > 0, got {calls}/{seconds}"
                )
        return found


@attrs.frozen
class ClientConfig:
    """Everything a client needs besides its key.

    Attributes:
        base_url: The API root, without a trailing slash.
        timeout: Total seconds for one API call attempt.
        connect_timeout: Seconds to establish a connection.
        retry: The retry policy.
        rate_limit: Client-side pacing, or None to turn it off.
        connection_limit: The most connections the client's pool opens at once.
        user_agent: The ``User-Agent`` header.
        proxy: Which proxy API calls and downloads go through (direct by default; a
            ``VisionoClient`` reads the proxy environment variables into it).
    """

    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = RetryPolicy()
    rate_limit: RateLimit | None = RateLimit()
    connection_limit: int = 100
    user_agent: str = "visiono-async"
    proxy: ProxySettings = DIRECT


def resolve_api_key(api_key: str | None) -> str:
    """The key from the argument or ``$VISIONO_API_KEY``; a clear error when neither is set."""
    key = api_key if api_key is not None else os.environ.get("VISIONO_API_KEY")
    if key is None or not key.strip():
        raise ValueError(
            "No Visiono API key: pass api_key=... or set the VISIONO_API_KEY environment variable"
        )
    key = key.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ValueError("The Visiono API key contains whitespace or control characters")
    return key


def resolve_base_url(base_url: str | None) -> str:
    """The base URL from the argument, ``$VISIONO_BASE_URL`` or the default, without a trailing slash."""
    url = base_url or os.environ.get("VISIONO_BASE_URL") or DEFAULT_BASE_URL
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    return url
