"""Unix seconds as Workflow Mode links carry them."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["to_unix"]


def to_unix(value: datetime | float | None) -> int:
    """Whole unix seconds for a datetime (naive means UTC), a number, or now when ``None``."""
    if value is None:
        return int(datetime.now(timezone.utc).timestamp())
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return int(aware.timestamp())
    return int(value)
