"""The account endpoints: ``GET /stats`` and ``GET /status`` (``client.stats()``, ``client.status()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._response import raw_response_wrapper
from ..models import Stats, Status
from ._common import request_model

if TYPE_CHECKING:
    from .._session import Session

__all__ = ["Account", "ClientWithRawResponse"]


class Account:
    """Plan, usage and service health; the client exposes them as ``client.stats()`` and
    ``client.status()``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    async def stats(self, *, timeout: float | None = None, max_retries: int | None = None) -> Stats:
        """The account's plan, usage this period and rate limits (``GET /stats``).

        Args:
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The stats.

        Raises:
            APIError: The API refused the call.
            APIConnectionError: The call could not be completed.
        """
        return await request_model(
            self._session.for_call(max_retries), "GET", "/stats", Stats, timeout=timeout
        )

    async def status(
        self, *, timeout: float | None = None, max_retries: int | None = None
    ) -> Status:
        """The API's health (``GET /status``).

        Args:
            timeout: Seconds for the call; the client's default when None.
            max_retries: Retries of a failed call, for this call only; the client's when None.

        Returns:
            The status.

        Raises:
            APIError: The API refused the call.
            APIConnectionError: The call could not be completed.
        """
        return await request_model(
            self._session.for_call(max_retries), "GET", "/status", Status, timeout=timeout
        )


class ClientWithRawResponse:
    """``client.with_raw_response``: each method answers with a
    :class:`~visiono_async.RawResponse` around what ``client``'s returns."""

    def __init__(self, resource: Account) -> None:
        self.stats = raw_response_wrapper(resource.stats)
        self.status = raw_response_wrapper(resource.status)
