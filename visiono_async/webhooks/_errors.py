"""The error raised for a webhook body that is signed correctly but cannot be understood."""

from __future__ import annotations

from .._exceptions import InvalidPayloadError

__all__ = ["InvalidPayloadError"]
