"""Sample images (JPEG bytes of an exact size, a tiny PNG for QR codes) and the type of an
uploaded photo told from its bytes."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator

__all__ = ["iter_sample_jpeg", "sample_jpeg", "sniff_image_type", "tiny_png", "upload_type"]

_SOI_APP0 = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
_EOI = b"\xff\xd9"
# The rest of a baseline 1x1 grayscale JPEG: flat quantisation table, one-symbol Huffman
# tables (DC category 0, AC end-of-block) and a one-byte scan. Image decoders open it.
_BODY = (
    bytes.fromhex("ffdb004300")
    + b"\x01" * 64
    + bytes.fromhex("ffc0000b080001000101011100")
    + bytes.fromhex("ffc4001400")
    + b"\x01"
    + b"\x00" * 15
    + b"\x00"
    + bytes.fromhex("ffc4001410")
    + b"\x01"
    + b"\x00" * 15
    + b"\x00"
    + bytes.fromhex("ffda000801010000003f00")
    + b"\x3f"
)
_DECODABLE_SIZE = len(_SOI_APP0) + len(_BODY) + len(_EOI)
_COM_OVERHEAD = 4  # marker + length field of one comment segment
_COM_MAX_PAYLOAD = 0xFFFF - 2
_MIN_SIZE = len(_SOI_APP0) + len(_EOI)


def sample_jpeg(size: int = 50_000, *, seed: int = 0) -> bytes:
    """Deterministic JPEG-looking bytes of exactly ``size`` bytes.

    The bytes start with a JPEG SOI marker and a JFIF APP0 header and end with the EOI
    marker, so anything sniffing magic bytes sees a JPEG. From 200 bytes upwards the result
    is a real, decodable 1x1 grayscale image padded with comment segments of seeded filler.

    Args:
        size: The exact length of the result, at least 22.
        seed: Seeds the filler; the same ``(size, seed)`` always gives the same bytes.

    Returns:
        The image bytes.

    Raises:
        ValueError: ``size`` is smaller than 22.
    """
    return b"".join(iter_sample_jpeg(size, seed=seed))


def iter_sample_jpeg(size: int = 50_000, *, seed: int = 0) -> Iterator[bytes]:
    """The bytes of ``sample_jpeg(size, seed=seed)`` in pieces of about 64 KiB.

    What the emulator serves a generated photo from: its bytes are made as they are sent,
    so a thousand large sample photos do not sit in memory.

    Raises:
        ValueError: ``size`` is smaller than 22 (when the first piece is asked for).
    """
    if size < _MIN_SIZE:
        raise ValueError(f"sample_jpeg needs size >= {_MIN_SIZE}, got {size}")
    padding = size - _DECODABLE_SIZE
    rng = random.Random(seed)
    if padding != 0 and padding < _COM_OVERHEAD:
        # Too small for a decodable image plus a comment: header, filler, end marker.
        yield _SOI_APP0 + rng.randbytes(size - _MIN_SIZE) + _EOI
        return
    yield _SOI_APP0
    while padding > 0:
        payload = min(padding - _COM_OVERHEAD, _COM_MAX_PAYLOAD)
        remainder = padding - _COM_OVERHEAD - payload
        if 0 < remainder < _COM_OVERHEAD:
            # Leave room for one more whole comment segment.
            payload -= _COM_OVERHEAD
        yield b"\xff\xfe" + struct.pack(">H", payload + 2) + rng.randbytes(payload)
        padding -= payload + _COM_OVERHEAD
    yield _BODY + _EOI


def tiny_png() -> bytes:
    """A valid 1x1 black PNG (what the emulator serves as a QR code image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
)
_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif"}
_UNDECLARED = frozenset({"", "application/octet-stream", "application/x-www-form-urlencoded"})


def sniff_image_type(content: bytes) -> str | None:
    """The image type the first bytes of ``content`` show (JPEG, PNG, GIF, WebP, HEIC, PDF)."""
    for magic, offset, mime in _MAGIC:
        if content[offset : offset + len(magic)] == magic:
            if mime == "image/webp" and content[:4] != b"RIFF":
                continue
            return mime
    if content[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(content[8:12])
    return None


def upload_type(declared: str | None, content: bytes | None) -> str:
    """The type the emulator records for an uploaded photo.

    The emulator's choice (Visiono does not say how it types uploads): a declared
    ``Content-Type`` is kept, except none at all, ``application/octet-stream`` and
    ``application/x-www-form-urlencoded`` (what ``curl --data-binary`` sends unless told
    otherwise), which say nothing about the photo; then the bytes decide (``image/jpeg``
    for a JPEG), and an upload without bytes gets a generated JPEG.
    """
    kind = (declared or "").split(";", 1)[0].strip().lower()
    if kind not in _UNDECLARED:
        return kind
    if not content:
        return "image/jpeg"
    return sniff_image_type(content) or "application/octet-stream"
