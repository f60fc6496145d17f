"""The record of every request the emulator served."""

from __future__ import annotations

import attrs

__all__ = ["RecordedRequest"]


@attrs.define
class RecordedRequest:
    """One request as the emulator saw it (the API key is never stored).

    Attributes:
        method: ``GET``, ``POST``, ...
        path: For API calls the path after ``/api/v1`` (or ``/v1``), e.g.
            ``/photo-requests/pr_x/download-urls``; other paths as sent (``/storage/...``).
        query: The query string parameters.
        status: The response status, or ``None`` when no response was sent (a ``reset`` fault
            or a client that went away).
        time: Arrival time on the emulator clock (unix seconds).
        range: The ``Range`` header, if any.
        api: Whether this was an API call.
        fault: The kind of injected fault that hit the request (``"fail"``, ``"delay"``,
            ``"cut_body"``, ``"reset"``), if any.
        request_id: The ``X-Request-Id`` of an API response.
    """

    method: str
    path: str
    query: dict[str, str]
    time: float
    range: str | None = None
    api: bool = False
    status: int | None = None
    fault: str | None = None
    request_id: str | None = None
