"""``Idempotency-Key`` support: the first response to a key is replayed for 24 hours."""

from __future__ import annotations

import hashlib
import json

import attrs

from ._clock import EmulatorClock
from ._errors import ApiProblem

__all__ = ["IdempotencyStore", "StoredResponse", "fingerprint"]

TTL_SECONDS = 24 * 3600.0


@attrs.frozen
class StoredResponse:
    """The first answer given to one idempotency key."""

    fingerprint: str
    status: int
    body: bytes
    content_type: str
    stored_at: float


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Identifies a request's intent; JSON bodies compare by value, not by formatting."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


class IdempotencyStore:
    """Responses by ``(API key id, idempotency key)``, on the emulator clock."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._responses: dict[tuple[str, str], StoredResponse] = {}
        self._in_flight: set[tuple[str, str]] = set()

    def lookup(self, slot: tuple[str, str], print_: str) -> StoredResponse | None:
        """The stored response to replay, ``None`` to go ahead (the slot is then reserved).

        Raises:
            ApiProblem: 422 ``idempotency_key_reused`` for the same key with another
                request, or 409 ``idempotency_key_in_use`` while the first is running.
        """
        stored = self._responses.get(slot)
        if stored is not None and self._clock.now() - stored.stored_at > TTL_SECONDS:
            del self._responses[slot]
            stored = None
        if stored is not None:
            if stored.fingerprint != print_:
                raise ApiProblem(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request.",
                    details={"Idempotency-Key": ["The key was used with a different body."]},
                )
            return stored
        if slot in self._in_flight:
            raise ApiProblem(
                409,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed.",
            )
        self._in_flight.add(slot)
        return None

    def release(self, slot: tuple[str, str], response: StoredResponse | None) -> None:
        """End the reservation, keeping ``response`` for replays if given."""
        self._in_flight.discard(slot)
        if response is not None:
            self._responses[slot] = response
