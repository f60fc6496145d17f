"""sample_jpeg: exact sizes, JPEG markers, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visiono_async.testing import sample_jpeg

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
