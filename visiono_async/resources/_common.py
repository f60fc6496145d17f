"""Helpers shared by the resource classes: request bodies and responses several share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._converter import invalid_response, structure_response
from ..models import DownloadURLs

if TYPE_CHECKING:
    from .._session import APIResponse

__all__ = ["body", "download_urls", "qrcode_url"]


def body(fields: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON request body: the options that were given (not None), then ``extra`` as is."""
    return {**{k: v for k, v in fields.items() if v is not None}, **extra}


def download_urls(response: APIResponse, *, path: str) -> DownloadURLs:
    """``DownloadURLs`` from a ``.../download-urls`` response: ``data`` plus the expiry meta."""
    data = response.data
    if isinstance(data, Mapping):
        data = {
            "expires_in_seconds": response.meta.get("expires_in_seconds"),
            "urls_valid_for": response.meta.get("urls_valid_for"),
            **data,
            "fetched_at": response.received_at,
        }
    return structure_response(response, DownloadURLs, method="GET", path=path, data=data)


def qrcode_url(response: APIResponse, *, path: str) -> str:
    """The QR image URL from a ``.../qrcode`` response (``{"data": {"qrcode_url": ...}}``)."""
    data = response.data
    url = data.get("qrcode_url") if isinstance(data, Mapping) else data
    if not isinstance(url, str) or not url:
        raise invalid_response(
            response, "expected data.qrcode_url to be a URL", method="GET", path=path
        )
    return url
