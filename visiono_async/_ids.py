"""Validation of the identifiers that go into URL paths, before any request is sent."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

__all__ = ["validate_id"]

_MAX_LENGTH = 256
_FORBIDDEN = ("/", "\\", "?", "#", "..")


def validate_id(value: str, *, name: str) -> str:
    """Check an identifier that becomes one URL path segment, and quote it.

    A value that could change which URL is called (a ``/``, ``?``, ``#`` or ``..``), or
    that cannot be an id at all (empty, whitespace or control characters), is refused
    before anything is sent.

    Args:
        value: The identifier (``"pr_1"``, a unique code, ...).
        name: The parameter's name, used in the error message.

    Returns:
        The identifier, percent-quoted for use as a path segment.

    Raises:
        TypeError: ``value`` is not a string.
        ValueError: ``value`` is empty, ``.``, too long, or contains whitespace, a control
            character, ``/``, ``\\``, ``?``, ``#`` or ``..``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > _MAX_LENGTH:
        raise ValueError(f"{name} is too long ({len(value)} characters, at most {_MAX_LENGTH})")
    for char in value:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ValueError(
                f"{name} must not contain whitespace or control characters, got {value!r}"
            )
    if value == ".":
        raise ValueError(f"{name} must not be '.'")
    for forbidden in _FORBIDDEN:
        if forbidden in value:
            raise ValueError(f"{name} must not contain {forbidden!r}, got {value!r}")
    return quote(value, safe="")
