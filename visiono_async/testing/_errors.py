"""Exceptions a route raises to answer with an API error, and the standard error codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiProblem",
    "FrameworkValidationError",
    "default_error",
    "not_found",
    "validation_failed",
]

_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthenticated", "Unauthenticated. Check the X-API-Key header."),
    403: ("forbidden", "This action is not allowed."),
    404: ("not_found", "The requested resource was not found."),
    405: ("method_not_allowed", "The method is not supported for this route."),
    409: ("conflict", "The request conflicts with another request in progress."),
    422: ("validation_error", "The given data was invalid."),
    429: ("rate_limited", "Too many requests. Slow down and retry later."),
    500: ("server_error", "An unexpected error occurred on the server."),
    502: ("bad_gateway", "The upstream server returned an invalid response."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
    504: ("gateway_timeout", "The upstream server did not answer in time."),
}


def default_error(status: int) -> tuple[str, str]:
    """The standard ``(code, message)`` of an HTTP error status."""
    if status in _DEFAULTS:
        return _DEFAULTS[status]
    return ("server_error", "Server error.") if status >= 500 else ("error", "Request failed.")


class ApiProblem(Exception):
    """Answer with the standard error shape ``{"error": {...}, "meta": {...}}``."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        details: Mapping[str, list[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_code, default_message = default_error(status)
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.details = dict(details or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.code}: {self.message}")


class FrameworkValidationError(Exception):
    """Answer 422 with the framework shape ``{"message": ..., "errors": {...}}``."""

    def __init__(self, message: str, errors: Mapping[str, list[str]]) -> None:
        self.message = message
        self.errors = dict(errors)
        super().__init__(message)


def validation_failed(errors: Mapping[str, list[str]]) -> ApiProblem:
    """A 422 ``validation_error`` naming every field that failed."""
    return ApiProblem(422, "validation_error", "The given data was invalid.", details=errors)


def not_found(kind: str, identifier: str) -> ApiProblem:
    """A 404 ``not_found`` naming what was looked up."""
    return ApiProblem(404, "not_found", f"No {kind} found with id or code {identifier!r}.")
