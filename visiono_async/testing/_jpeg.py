"""Deterministic sample images: JPEG bytes of an exact size, and a tiny PNG for QR codes."""

from __future__ import annotations

import random
import struct
import zlib

__all__ = ["sample_jpeg", "tiny_png"]

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
    if size < _MIN_SIZE:
        raise ValueError(f"sample_jpeg needs size >= {_MIN_SIZE}, got {size}")
    padding = size - _DECODABLE_SIZE
    rng = random.Random(seed)
    if padding != 0 and padding < _COM_OVERHEAD:
        # Too small for a decodable image plus a comment: header, filler, end marker.
        return _SOI_APP0 + rng.randbytes(size - _MIN_SIZE) + _EOI
    parts = [_SOI_APP0]
    while padding > 0:
        payload = min(padding - _COM_OVERHEAD, _COM_MAX_PAYLOAD)
        remainder = padding - _COM_OVERHEAD - payload
        if 0 < remainder < _COM_OVERHEAD:
            # Leave room for one more whole comment segment.
            payload -= _COM_OVERHEAD
        parts.append(b"\xff\xfe" + struct.pack(">H", payload + 2) + rng.randbytes(payload))
        padding -= payload + _COM_OVERHEAD
    parts.append(_BODY)
    parts.append(_EOI)
    return b"".join(parts)


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
