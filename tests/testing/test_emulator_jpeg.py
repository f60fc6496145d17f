"""sample_jpeg: exact sizes, JPEG markers, determinism; the type of an uploaded photo."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visiono_async.testing import sample_jpeg
from visiono_async.testing._jpeg import iter_sample_jpeg, tiny_png, upload_type

SOI_APP0 = b"\xff\xd8\xff\xe0"


class TestSampleJpeg:
    @given(size=st.integers(min_value=22, max_value=300_000), seed=st.integers(0, 2**32))
    def test_exact_size_and_markers(self, size: int, seed: int) -> None:
        """Any size from 22 bytes: exactly that long, JFIF header first, EOI last."""
        image = sample_jpeg(size, seed=seed)

        assert len(image) == size
        assert image.startswith(SOI_APP0)
        assert image[6:11] == b"JFIF\x00"
        assert image.endswith(b"\xff\xd9")

    def test_same_seed_same_bytes(self) -> None:
        """Deterministic per (size, seed); seeds differ."""
        assert sample_jpeg(10_000, seed=1) == sample_jpeg(10_000, seed=1)
        assert sample_jpeg(10_000, seed=1) != sample_jpeg(10_000, seed=2)

    def test_default_is_50_kb(self) -> None:
        """The default size is 50 000 bytes."""
        assert len(sample_jpeg()) == 50_000

    @pytest.mark.parametrize("size", [0, 21])
    def test_too_small_is_refused(self, size: int) -> None:
        """Below 22 bytes there is no room for the markers."""
        with pytest.raises(ValueError, match="size >= 22"):
            sample_jpeg(size)

    @given(size=st.integers(min_value=200, max_value=200_000))
    def test_segments_are_well_formed(self, size: int) -> None:
        """From 200 bytes the file is a chain of valid segments up to the scan."""
        image = sample_jpeg(size)
        position = 2
        markers = []
        while image[position + 1] != 0xDA:
            assert image[position] == 0xFF
            markers.append(image[position + 1])
            length = int.from_bytes(image[position + 2 : position + 4], "big")
            position += 2 + length
        assert 0xC0 in markers
        assert markers.count(0xC4) == 2
        assert image[position + 1] == 0xDA


class TestPieces:
    @pytest.mark.parametrize("size", [22, 25, 199, 200, 203, 65_539, 65_540, 200_001])
    def test_pieces_join_to_sample_jpeg(self, size: int) -> None:
        """``iter_sample_jpeg`` yields the very bytes of ``sample_jpeg``, in bounded pieces."""
        pieces = list(iter_sample_jpeg(size, seed=5))
        assert sample_jpeg(size, seed=5) == b"".join(pieces)
        assert max(len(p) for p in pieces) <= 64 * 1024 + 4


class TestUploadType:
    @pytest.mark.parametrize(
        ("declared", "content", "expected"),
        [
            (None, sample_jpeg(500), "image/jpeg"),
            ("application/x-www-form-urlencoded", sample_jpeg(500), "image/jpeg"),
            ("application/octet-stream", tiny_png(), "image/png"),
            ("", b"GIF89a" + b"\0" * 10, "image/gif"),
            (None, b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
            (None, b"\0\0\0\x18ftypheic\0\0", "image/heic"),
            (None, b"plain bytes", "application/octet-stream"),
            (None, b"", "image/jpeg"),  # no bytes: the emulator generates a JPEG
            ("image/png; charset=x", sample_jpeg(500), "image/png"),  # a declared type wins
        ],
        ids=["none", "curl-default", "octet-stream", "empty-header", "webp", "heic",
             "unknown", "no-body", "declared"],
    )  # fmt: skip
    def test_the_recorded_type(self, declared: str | None, content: bytes, expected: str) -> None:
        """A telling Content-Type is kept; one that says nothing gives way to the bytes."""
        assert expected == upload_type(declared, content)
