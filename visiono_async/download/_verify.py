"""Content checks: magic-byte sniffing against the expected MIME type, and size checks.

Storage servers and photo APIs sometimes answer an error as JSON, HTML or XML, even with a
200 status; nothing like that may be archived as a photo.
"""

from __future__ import annotations

import functools
import json

__all__ = [
    "SNIFF_BYTES",
    "check_content",
    "check_size",
    "content_type_error",
    "most_bytes",
    "sniff",
    "vendor_message",
]

_MESSAGE_CHARS = 200
"""The longest vendor message quoted in a failure reason."""

SNIFF_BYTES = 64
"""How many leading bytes ``sniff`` looks at."""

_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    ("image/webp", b"WEBP", 8),
    ("image/bmp", b"BM", 0),
    ("image/tiff", b"II*\x00", 0),
    ("image/tiff", b"MM\x00*", 0),
    ("application/pdf", b"%PDF-", 0),
)
_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"qt  ": "video/quicktime",
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/heif": "image/heic"}
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/problem+json")
_SNIFFABLE = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"}
    | {"image/heic", "image/avif", "application/pdf"}
)


@functools.lru_cache(maxsize=256)  # a run sees a handful of types, three looks per file
def _normalise(mime: str | None) -> str | None:
    if not mime:
        return None
    base = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The content type the leading bytes reveal, or ``None`` when they reveal nothing.

    Markup and JSON are reported as ``"application/json"``, ``"text/html"`` or
    ``"text/xml"``.
    """
    for mime, magic, offset in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return mime
    if head[4:8] == b"ftyp":
        brand = _FTYP_BRANDS.get(head[8:12])
        if brand:
            return brand
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    lowered = text[:32].lower()
    if lowered.startswith((b"{", b"[")):
        return "application/json"
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html"
    if lowered.startswith((b"<?xml", b"<error", b"<")):
        return "text/xml"
    return None


def _is_textual(mime: str | None) -> bool:
    return mime is not None and mime.startswith(_TEXT_TYPES)


def content_type_error(header: str | None, expected: str | None) -> str | None:
    """A message when the ``Content-Type`` header announces an error body, else ``None``."""
    got = _normalise(header)
    want = _normalise(expected)
    if _is_textual(got) and not _is_textual(want):
        return f"storage answered with {got} where {want or 'a file'} was expected"
    return None


def check_content(head: bytes, expected: str | None) -> tuple[str, str] | None:
    """Check the first bytes of a body against the expected MIME type.

    Args:
        head: At least ``SNIFF_BYTES`` leading bytes (fewer only for a shorter body).
        expected: The MIME type the source announced, or ``None``.

    Returns:
        ``(reason, message)`` when the body must not be archived, else ``None``. Reasons:
        ``"error_body"`` (JSON, HTML or XML where a file was expected) and
        ``"mime_mismatch"`` (a different or unrecognisable format where a known one was
        expected).
    """
    want = _normalise(expected)
    got = sniff(head)
    if _is_textual(got) and not _is_textual(want):
        preview = head[:48].decode("utf-8", "replace").replace("\n", " ").strip()
        return "error_body", f"storage answered with {got} ({preview!r}) instead of a file"
    if want in _SNIFFABLE and got != want:
        found = got or "unrecognised bytes"
        return "mime_mismatch", f"expected {want}, got {found}"
    return None


def check_size(actual: int, *, size: int | None, size_kb: float | None) -> str | None:
    """A message when ``actual`` bytes contradict the announced size, else ``None``.

    ``size_kb`` is compared with one unit of tolerance, whichever way the provider rounds
    and whether it counts KiB (1024) or kB (1000).
    """
    if size is not None and actual != size:
        return f"expected {size} bytes, got {actual}"
    if size_kb is not None and min(abs(actual / 1024 - size_kb), abs(actual / 1000 - size_kb)) > 1:
        return f"expected about {size_kb} KiB, got {actual} bytes"
    return None


def most_bytes(*, size: int | None, size_kb: float | None) -> int | None:
    """The largest size :func:`check_size` accepts, or ``None`` when nothing is announced
    (a body past it cannot be the file, so fetching can stop before writing it)."""
    if size is not None:
        return size
    if size_kb is not None:
        return int((size_kb + 1) * 1024)
    return None


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        found: list[str] = []
        for key in ("message", "error_description", "detail", "title", "error"):
            if key in value:
                found.extend(_texts(value[key]))
        if not found:
            for key, item in value.items():
                found.extend(f"{key}: {t}" for t in _texts(item))
        return found
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def vendor_message(body: bytes) -> str | None:
    """The human message of a vendor's JSON error body, bounded in length; else ``None``.

    Tolerant of the usual shapes: ``{"error": {"message": ...}}``, ``{"message": ...}``,
    ``{"errors": {"4515": "Image not available"}}``, ``{"detail": ...}``, lists of those.
    """
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    texts: list[str] = []
    if isinstance(data, dict):
        for key in ("error", "message", "errors", "detail", "error_description", "title"):
            if key in data:
                texts.extend(_texts(data[key]))
    else:
        texts = _texts(data)
    text = "; ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
    text = " ".join(text.split())  # no newlines or control whitespace in a report line
    if not text:
        return None
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."
