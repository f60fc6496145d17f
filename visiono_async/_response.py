"""Raw responses: the status, headers and request id behind a call, with what it returned.

Every resource has a ``with_raw_response`` twin whose methods take the same arguments and
answer with a :class:`RawResponse` instead of the parsed value::

    raw = await client.photo_requests.with_raw_response.get("pr_1")
    raw.request_id, raw.status_code, raw.headers["X-RateLimit-Remaining"]
    pr = raw.parse()
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from ._session import capture_responses

if TYPE_CHECKING:
    from ._session import APIResponse

__all__ = ["RawResponse", "raw_response_wrapper"]

T = TypeVar("T")
P = ParamSpec("P")


class RawResponse(Generic[T]):
    """What a call returned, with the HTTP answer it came from.

    The attributes describe the last API answer of the call (the one its result was
    built from); a call that needed several (the pages of ``submissions``, the batches
    of ``create_many``, a create that looked for what a failed attempt had made) lists
    them all in :attr:`request_ids`.

    Attributes:
        status_code: The HTTP status of the last answer.
        headers: Its headers (case-insensitive), rate-limit headers included.
        request_id: Visiono's request id of the last answer (``meta.request_id`` or
            ``X-Request-Id``): quote it to Visiono's support.
        request_ids: The request id of every answer behind the call, in order.
        body: The decoded JSON body of the last answer.
        received_at: When the request that got the last answer was sent (aware UTC).
    """

    __slots__ = ("_parsed", "body", "headers", "received_at", "request_id", "request_ids",
                 "status_code")  # fmt: skip

    def __init__(self, parsed: T, responses: Sequence[APIResponse]) -> None:
        if not responses:
            raise RuntimeError("the call returned without an API answer to describe")
        last = responses[-1]
        self._parsed = parsed
        self.status_code: int = last.status
        self.headers: Mapping[str, str] = last.headers
        self.request_id: str | None = last.request_id
        self.request_ids: tuple[str | None, ...] = tuple(r.request_id for r in responses)
        self.body: Any = last.body
        self.received_at: datetime = last.received_at

    def parse(self) -> T:
        """The value the method returns without ``with_raw_response`` (a model, a list...)."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<RawResponse {self.status_code} request_id={self.request_id!r}>"


def raw_response_wrapper(
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` answering with a :class:`RawResponse` around its result.

    Args:
        method: A bound resource method (``client.photo_requests.get``).

    Returns:
        An async function with the same parameters.
    """

    @functools.wraps(method)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        with capture_responses() as responses:
            parsed = await method(*args, **kwargs)
        return RawResponse(parsed, responses)

    return wrapped
