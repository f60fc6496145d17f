"""Identifiers: prefixed random ids, six-character codes, API keys and secrets."""

from __future__ import annotations

import secrets
import string

__all__ = ["new_api_key", "new_code", "new_id", "new_numeric_code", "new_request_id"]

_ID_ALPHABET = string.ascii_lowercase + string.digits
_CODE_ALPHABET = string.ascii_uppercase + string.digits


def new_id(prefix: str) -> str:
    """``{prefix}_`` and 16 random lowercase letters and digits, e.g. ``pr_4k2m...``."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_code() -> str:
    """Six random uppercase letters and digits (a photo request's ``unique_code``)."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def new_numeric_code() -> str:
    """Six random digits (a photo request's ``numeric_code``)."""
    return "".join(secrets.choice(string.digits) for _ in range(6))


def new_request_id() -> str:
    """``req_`` and 24 hex digits."""
    return "req_" + secrets.token_hex(12)


def new_api_key() -> str:
    """A test API key: ``vsk_test_`` and 32 random hex digits."""
    return "vsk_test_" + secrets.token_hex(16)
