"""The one exception hierarchy of visiono_async.

::

    VisionoError
     ├─ APIError                 status_code, code, message, details, request_id, headers
     │   ├─ BadRequestError       400
     │   ├─ AuthenticationError   401
     │   ├─ PermissionDeniedError 403   .required_scope when the body names it
     │   ├─ NotFoundError         404
     │   ├─ ValidationError       422   .errors: dict[str, list[str]]
     │   ├─ RateLimitError        429   .retry_after (seconds)
     │   └─ ServerError           5xx
     ├─ APIConnectionError
     │   └─ APITimeoutError
     ├─ InvalidSignatureError     webhook or workflow signature rejected
     └─ DownloadError             one file could not be archived, with the reason

No exception message ever contains an API key or a webhook secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "DownloadError",
    "InvalidPayloadError",
    "InvalidSignatureError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProxyError",
    "RateLimitError",
    "ServerError",
    "StaleWebhookError",
    "ValidationError",
    "VisionoError",
    "error_for_status",
]


class VisionoError(Exception):
    """Base class of every error raised by visiono_async."""


class APIError(VisionoError):
    """The Visiono API answered with an error status.

    Attributes:
        status_code: The HTTP status.
        code: The API's machine-readable error code (``"validation_error"``), if any.
        message: The human-readable message from the body, or a description of the body.
        details: Field errors, ``{"field": ["message", ...]}`` (empty when none).
        request_id: Visiono's ``request_id`` (from the body's ``meta`` or a header).
        headers: The response headers (a plain ``dict``, lower-case names).
        method: The request's HTTP method.
        path: The request's path relative to the base URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        details: Mapping[str, list[str]] | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details: dict[str, list[str]] = dict(details or {})
        self.request_id = request_id
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.method = method
        self.path = path
        self.body = body
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        code = f" {self.code}" if self.code else ""
        text = f"HTTP {self.status_code}{code}{where}: {self.message}"
        if self.details:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(self.details.items()))
            text += f" [{fields}]"
        if self.request_id:
            text += f" (request_id={self.request_id})"
        return text


class BadRequestError(APIError):
    """HTTP 400: the request was malformed."""


class AuthenticationError(APIError):
    """HTTP 401: the API key is missing, unknown or revoked."""


_SCOPE_RE = re.compile(r"\b([a-z_]+:(?:read|write))\b")


class PermissionDeniedError(APIError):
    """HTTP 403: the API key lacks a scope the endpoint needs.

    Attributes:
        required_scope: The missing scope, when the body names it (``"webhooks:write"``).
    """

    @property
    def required_scope(self) -> str | None:
        """The scope the endpoint needs, taken from the error body when it names one."""
        for source in (self.details.get("scope"), self.details.get("required_scope")):
            if source:
                return source[0]
        if isinstance(self.body, Mapping):
            err = self.body.get("error")
            if isinstance(err, Mapping):
                for key in ("required_scope", "scope"):
                    value = err.get(key)
                    if isinstance(value, str):
                        return value
        match = _SCOPE_RE.search(self.message)
        return match.group(1) if match else None


class NotFoundError(APIError):
    """HTTP 404: no such resource."""


class ValidationError(APIError):
    """HTTP 422: the API rejected the input; ``errors`` maps each field to its messages."""

    @property
    def errors(self) -> dict[str, list[str]]:
        """Field errors, ``{"recipient_email": ["Email features are not available..."]}``."""
        return self.details


class RateLimitError(APIError):
    """HTTP 429, or a wait for the rate limit longer than the client's cap.

    Attributes:
        retry_after: Seconds to wait before the next call may succeed, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:.1f}s"
        return text


class ServerError(APIError):
    """HTTP 5xx: Visiono (or a proxy in front of it) failed."""


class APIConnectionError(VisionoError):
    """The request could not be completed: DNS, refused or reset connection, TLS, ..."""


class APITimeoutError(APIConnectionError):
    """The request did not complete within its timeout."""


class ProxyError(APIConnectionError):
    """The proxy could not be reached, or refused to carry the call (407, 403, 502, ...).

    Attributes:
        proxy: The proxy's URL, without its credentials.
        status_code: The proxy's answer (407 for missing or wrong credentials), or None when
            it could not be reached.
    """

    def __init__(self, message: str, *, proxy: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.proxy = proxy
        self.status_code = status_code


class InvalidSignatureError(VisionoError):
    """A webhook or Workflow Mode signature was missing, malformed, wrong or stale.

    Attributes:
        reason: ``"invalid_signature"``; ``"stale_timestamp"`` for a
            :class:`StaleWebhookError`. Receivers answer it in their 400 body.
    """

    reason = "invalid_signature"


class StaleWebhookError(InvalidSignatureError):
    """A webhook signed with the right secret, but whose signed timestamp is outside the
    replay window (``tolerance``): an old delivery replayed, or a clock far off.

    Attributes:
        age: Seconds between the signed timestamp and now (negative: in the future).
        tolerance: The replay window it was checked against, in seconds.
    """

    reason = "stale_timestamp"

    def __init__(self, message: str, *, age: float, tolerance: float) -> None:
        super().__init__(message)
        self.age = age
        self.tolerance = tolerance


class InvalidPayloadError(VisionoError):
    """A webhook body or Workflow Mode redirect was authentic but malformed.

    Raised for JSON that does not parse, a required field that is missing, or a field of the
    wrong type. Signature problems (missing, malformed, wrong or stale) are
    :class:`InvalidSignatureError` instead, so a receiver can tell a forged request from a
    sender bug. The message names the field; it never contains a secret.

    Attributes:
        reason: ``"invalid_payload"``, as receivers answer it in their 400 body.
    """

    reason = "invalid_payload"


class DownloadError(VisionoError):
    """One file could not be archived.

    Attributes:
        reason: A short machine-friendly cause (``"expired_url"``, ``"size_mismatch"``,
            ``"not_a_photo"``, ``"http_500"``, ``"disk_full"``, ...).
        url: The URL with its query string (the signature) removed, when known.
        submission_id: The submission whose file failed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        url: str | None = None,
        submission_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.url = url
        self.submission_id = submission_id
        super().__init__(message)


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: ValidationError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[APIError]:
    """The ``APIError`` subclass for an HTTP status."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return ServerError
    return APIError
