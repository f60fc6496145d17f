"""Content sniffing and size checks."""

from __future__ import annotations

import pytest

from visiono_async.download._verify import check_content, check_size, content_type_error, sniff
from visiono_async.testing import sample_jpeg


class TestSniff:
    @pytest.mark.parametrize(
        ("head", "expected"),
        [
            (sample_jpeg(500)[:64], "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
            (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
            (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
            (b'  {"error": "expired"}', "application/json"),
            (b"\xef\xbb\xbf<!DOCTYPE html><html>", "text/html"),
            (b'<?xml version="1.0"?><Error>', "text/xml"),
            (b"\x01\x02\x03", None),
        ],
        ids=["jpeg", "png", "webp", "heic", "json", "html-bom", "xml", "unknown"],
    )
    def test_magic_bytes(self, head: bytes, expected: str | None) -> None:
        """Leading bytes reveal the format."""
        assert expected == sniff(head)


class TestCheckContent:
    def test_photo_matching_its_type_passes(self) -> None:
        """A JPEG announced as a JPEG is fine."""
        assert check_content(sample_jpeg(500)[:64], "image/jpeg") is None

    def test_error_document_is_an_error_body(self) -> None:
        """JSON where a photo was expected."""
        assert "error_body" == check_content(b'{"message":"no"}', "image/jpeg")[0]  # type: ignore[index]

    def test_other_format_is_a_mismatch(self) -> None:
        """A PNG announced as a JPEG."""
        assert "mime_mismatch" == check_content(b"\x89PNG\r\n\x1a\n", "image/jpeg")[0]  # type: ignore[index]

    def test_unknown_expectation_only_rejects_error_documents(self) -> None:
        """Without a MIME type, any non-markup body passes."""
        assert check_content(b"\x01\x02", None) is None
        assert check_content(b"<html>", None) is not None

    def test_json_is_fine_when_json_was_expected(self) -> None:
        """A custom source may archive JSON documents."""
        assert check_content(b'{"a": 1}', "application/json") is None

    def test_error_content_type_header(self) -> None:
        """A text Content-Type where a photo was expected is reported."""
        assert content_type_error("application/json; charset=utf-8", "image/jpeg")
        assert content_type_error("image/jpeg", "image/jpeg") is None


class TestCheckSize:
    @pytest.mark.parametrize(
        ("actual", "size_kb", "ok"),
        [(50_000, 49, True), (50_000, 48.8, True), (50_000, 50, True), (50_000, 47, False)],
        ids=["floor", "exact", "ceil", "off"],
    )
    def test_kb_rounding_either_way(self, actual: int, size_kb: float, ok: bool) -> None:
        """``file_size_kb`` is compared with one KiB of tolerance."""
        assert ok == (check_size(actual, size=None, size_kb=size_kb) is None)

    def test_exact_size(self) -> None:
        """``size`` is exact."""
        assert check_size(10, size=10, size_kb=None) is None
        assert check_size(11, size=10, size_kb=None) is not None
