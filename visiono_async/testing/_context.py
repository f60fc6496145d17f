"""Per-request state shared by the middleware and the handlers of one request."""

from __future__ import annotations

from contextvars import ContextVar, Token

import attrs

from ._models import ApiKeyRecord
from ._recording import RecordedRequest

__all__ = ["RequestContext", "bind", "current", "unbind"]


@attrs.define
class RequestContext:
    """What the middleware learned about the request being handled."""

    record: RecordedRequest
    request_id: str
    key_id: str | None = None
    key: ApiKeyRecord | None = None
    cut_after: int | None = None

    def set_status(self, status: int) -> None:
        """Record the status before the response goes out (tests read it right after)."""
        self.record.status = status


# Set by the middleware for the duration of one request; aiohttp runs the middleware,
# the handler and the response writing of a request in one task.
_CURRENT: ContextVar[RequestContext | None] = ContextVar("visiono_request", default=None)


def current() -> RequestContext:
    """The context of the request being handled."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise RuntimeError("no Visiono emulator request is being handled")
    return ctx


def bind(ctx: RequestContext | None) -> Token[RequestContext | None]:
    """Make ``ctx`` current; returns the token for :func:`unbind`."""
    return _CURRENT.set(ctx)


def unbind(token: Token[RequestContext | None]) -> None:
    """Restore the context that was current before :func:`bind`."""
    _CURRENT.reset(token)
