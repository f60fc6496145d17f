"""Optional extras: an import that needs one fails with the ``pip install`` line that fixes it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["MissingExtraError", "require_extra"]


class MissingExtraError(ImportError):
    """A module of the SDK needs an optional extra that is not installed.

    Attributes:
        extra: The extra's name (``"redis"``).
        feature: What needed it (``"RedisEventStore"``).
    """

    def __init__(self, extra: str, feature: str, missing: str | None) -> None:
        super().__init__(
            f"{feature} needs the {extra!r} extra: pip install 'visiono-async[{extra}]'"
            + (f" (the module {missing!r} could not be imported)" if missing else ""),
            name=missing,
        )
        self.extra = extra
        self.feature = feature


@contextlib.contextmanager
def require_extra(extra: str, feature: str) -> Iterator[None]:
    """Turn an ``ImportError`` inside the block into :class:`MissingExtraError`.

    Args:
        extra: The extra that provides the imports (``"fastapi"``).
        feature: What needs them, for the message.

    Raises:
        MissingExtraError: An import in the block failed.
    """
    try:
        yield
    except ImportError as exc:
        raise MissingExtraError(extra, feature, exc.name) from exc
