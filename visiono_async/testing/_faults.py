"""Fault injection: failures, delays, cut bodies and connection resets on chosen routes."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["FaultInjector", "FaultPlan", "FaultRule"]


@attrs.define
class FaultRule:
    """One armed fault; ``remaining`` ``None`` means until cleared."""

    kind: str
    remaining: int | None
    path: str | None = None
    method: str | None = None
    status: int = 500
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    content_type: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    seconds: float = 0.0
    after_bytes: int = 0
    after_action: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path triggers the rule."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path


@attrs.frozen
class FaultPlan:
    """What to do to one request: a total delay, then at most one other fault."""

    delay: float = 0.0
    rule: FaultRule | None = None

    @property
    def kind(self) -> str | None:
        """The kind of the strongest fault in the plan."""
        if self.rule is not None:
            return self.rule.kind
        return "delay" if self.delay else None


def _positive(name: str, count: int) -> int:
    if count < 1:
        raise ValueError(f"{name} needs count >= 1, got {count}")
    return count


class FaultInjector:
    """``emu.faults``: arm faults that hit matching requests (API and storage alike).

    Each rule matches an optional HTTP ``method`` and an optional substring of the request
    path (the full path, e.g. ``/api/v1/photo-requests`` or ``/storage/ps_x/original.jpg``),
    fires ``count`` times, then disappears. Rules are evaluated before authentication and
    rate limiting, and a request hit by a fault is still recorded in ``emu.requests``.
    """

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        path: str | None = None,
        method: str | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        after_action: bool = False,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``.

        Args:
            count: How many requests to fail.
            status: The status to answer with (a 200 with an error body works too).
            path: Only requests whose path contains this.
            method: Only requests with this method.
            body: ``None`` answers the API's standard error JSON for ``status`` (with
                ``X-Request-Id``, rate limit headers and, for 429, ``Retry-After: 1``);
                a str or bytes is sent as is (e.g. a proxy's HTML page), a dict or list
                as JSON.
            content_type: The ``Content-Type`` of a given ``body`` (default: JSON for a
                dict or list, ``text/plain`` for a str, ``application/octet-stream`` for
                bytes).
            headers: Extra response headers, overriding the defaults.
            after_action: Perform the request first (e.g. create the photo request), then
                answer with the failure, like a server that acted and then timed out.
        """
        self._rules.append(
            FaultRule(
                "fail",
                _positive("fail_next", count),
                path=path,
                method=method,
                status=status,
                body=body,
                content_type=content_type,
                headers=dict(headers or {}),
                after_action=after_action,
            )
        )

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Hold matching requests for ``seconds`` before handling them.

        Args:
            seconds: The delay (real time).
            count: How many requests to delay; ``None`` delays until :meth:`clear`.
            path: Only requests whose path contains this.
            method: Only requests with this method.
        """
        if seconds < 0:
            raise ValueError(f"delay needs seconds >= 0, got {seconds}")
        remaining = None if count is None else _positive("delay", count)
        self._rules.append(FaultRule("delay", remaining, path=path, method=method, seconds=seconds))

    def cut_body(self, after_bytes: int, *, count: int = 1, path: str | None = None) -> None:
        """Send the headers (full ``Content-Length``) and ``after_bytes`` of the body, then
        close the connection."""
        if after_bytes < 0:
            raise ValueError(f"cut_body needs after_bytes >= 0, got {after_bytes}")
        self._rules.append(
            FaultRule("cut_body", _positive("cut_body", count), path=path, after_bytes=after_bytes)
        )

    def reset(self, count: int = 1, *, path: str | None = None, method: str | None = None) -> None:
        """Close the connection of the next ``count`` matching requests without answering.

        Note that aiohttp clients retry an idempotent request (GET, HEAD, PUT, DELETE) once
        on their own after such a disconnect: use ``count=2`` to make one of them fail.
        """
        self._rules.append(FaultRule("reset", _positive("reset", count), path=path, method=method))

    def clear(self) -> None:
        """Disarm every fault."""
        self._rules.clear()

    @property
    def pending(self) -> int:
        """How many rules are still armed."""
        return len(self._rules)

    def take(self, method: str, path: str) -> FaultPlan:
        """Consume the faults that hit one request: every matching delay, then the first
        other matching rule."""
        delay = 0.0
        chosen: FaultRule | None = None
        for rule in list(self._rules):
            if not rule.matches(method, path):
                continue
            if rule.kind == "delay":
                delay += rule.seconds
            elif chosen is None:
                chosen = rule
            else:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
        return FaultPlan(delay, chosen)
