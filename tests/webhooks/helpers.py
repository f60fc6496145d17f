"""Helpers for the webhook tests: signed events, fake clocks and a real redis-server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.conftest import require_binary
from visiono_async.webhooks import WebhookEvent, build_delivery, construct_event

SECRET = "whsec_store_tests"


def make_event(
    request_id: str | None = "pr_1",
    event: str = "photo_request.created",
    *,
    delivery_id: str | None = None,
    timestamp: datetime | None = None,
    note: str = "",
    data: Mapping[str, Any] | None = None,
) -> WebhookEvent:
    """A verified event for ``request_id``; ``note`` makes otherwise equal bodies differ."""
    if data is None:
        pr: dict[str, Any] = {"id": request_id, "metadata": {"note": note}}
        data = {"photo_request": pr} if request_id else {"note": note}
        if event == "photo_submission.created":
            data = {**data, "submission": {"id": f"ps_{note or 'x'}"}}
    delivery = build_delivery(event, data, SECRET, timestamp=timestamp, delivery_id=delivery_id)
    return construct_event(delivery.body, delivery.headers, SECRET, tolerance=None)


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throw-away redis-server on 127.0.0.1 and a free port; yields its URL."""
    binary = require_binary("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
