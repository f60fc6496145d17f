"""HMAC-SHA256 signatures of webhook bodies, as Visiono computes them (``sha256=<hex>``)."""

from __future__ import annotations

import hashlib
import hmac
import re

from .._exceptions import InvalidSignatureError

__all__ = ["SIGNATURE_HEADER", "compute_signature", "verify_signature"]

SIGNATURE_HEADER = "X-Visiono-Signature"

_SIGNATURE_RE = re.compile(r"sha256=([0-9a-f]{64})", re.IGNORECASE)


def _key(secret: str | bytes) -> bytes:
    # The vendor's PHP, JavaScript and Python snippets all key the HMAC with the secret's
    # UTF-8 bytes, so a str secret is encoded exactly that way.
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def compute_signature(raw_body: bytes, secret: str | bytes) -> str:
    """The ``X-Visiono-Signature`` value Visiono sends for ``raw_body``.

    Args:
        raw_body: The exact bytes of the request body.
        secret: The endpoint's signing secret (``str`` secrets are UTF-8 encoded).

    Returns:
        ``"sha256="`` followed by the lower-case hex HMAC-SHA256 of the body.
    """
    return "sha256=" + hmac.new(_key(secret), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, signature_header: str | None, secret: str | bytes) -> None:
    """Check a webhook's ``X-Visiono-Signature`` header against its raw body.

    The comparison is constant-time. The ``sha256=`` prefix and the hex digits are accepted
    in any letter case, and surrounding whitespace is ignored.

    Args:
        raw_body: The exact bytes received, before any JSON parsing.
        signature_header: The header's value, or ``None`` when the header was absent.
        secret: The endpoint's signing secret.

    Raises:
        InvalidSignatureError: The header is missing, is not ``sha256=`` plus 64 hex digits,
            or does not match the body. The message says which, and nothing more.
    """
    if not isinstance(raw_body, (bytes, bytearray, memoryview)):
        raise TypeError("raw_body must be the request's raw bytes, not a parsed or decoded body")
    if not secret:
        raise ValueError("the webhook signing secret is empty")
    if signature_header is None or not signature_header.strip():
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    match = _SIGNATURE_RE.fullmatch(signature_header.strip())
    if match is None:
        raise InvalidSignatureError(
            f"the {SIGNATURE_HEADER} header is malformed (expected 'sha256=' and 64 hex digits)"
        )
    expected = hmac.new(_key(secret), bytes(raw_body), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise InvalidSignatureError(f"the {SIGNATURE_HEADER} header does not match the body")
