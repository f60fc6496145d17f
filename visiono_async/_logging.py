"""``VISIONO_LOG=debug|info``: the SDK's logging turned on from the environment, no code needed.

The SDK logs through the standard ``logging`` module (logger ``visiono_async``) and prints
nothing by itself. With ``VISIONO_LOG`` set when the package is imported, the logger gets
that level and a handler writing to stderr, as ``OPENAI_LOG`` and ``STRIPE_LOG`` do for
those SDKs. Whatever reaches that handler has anything shaped like a Visiono API key
masked, in case a caller's own message carries one; the SDK itself never logs a key.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

__all__ = ["ENV_VARIABLE", "LOGGER_NAME", "setup_logging_from_env"]

ENV_VARIABLE = "VISIONO_LOG"
LOGGER_NAME = "visiono_async"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_KEY_RE = re.compile(r"vsk_[A-Za-z0-9]+_[A-Za-z0-9]+")
_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"


class _RedactKeys(logging.Filter):
    """Masks API-key-shaped text in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _KEY_RE.search(message):
            record.msg = _KEY_RE.sub("vsk_<redacted>", message)
            record.args = None
        return True


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler ``VISIONO_LOG`` adds (once, however often this module runs)."""


def setup_logging_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> int | None:
    """Apply ``$VISIONO_LOG`` to the ``visiono_async`` logger.

    Args:
        environ: The environment to read; ``os.environ`` when None.

    Returns:
        The level set, or None when the variable is unset, empty or not understood (an
        unknown value gives a ``RuntimeWarning`` naming it and changes nothing).
    """
    value = (environ if environ is not None else os.environ).get(ENV_VARIABLE, "").strip()
    if not value:
        return None
    level = _LEVELS.get(value.lower())
    if level is None:
        warnings.warn(
            f"{ENV_VARIABLE}={value!r} is not understood (use debug or info); "
            "the SDK's logging stays as it was",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(isinstance(handler, _EnvHandler) for handler in logger.handlers):
        handler = _EnvHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(_RedactKeys())
        logger.addHandler(handler)
    return level
