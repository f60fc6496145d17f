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
    """A throw-away redis-server on 127.0.0.1 and a free port; yields its URL.

    The port is picked free, then redis binds it; another test worker may take it in
    between, so a redis that exits at start-up is started again on another port, and the
    server that answers must report our redis's process id.
    """
    binary = require_binary("redis-server")
    for _attempt in range(5):
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
            if _wait_for_redis(process, port):
                yield f"redis://127.0.0.1:{port}/0"
                return
        finally:
            _stop(process)
    raise RuntimeError("redis-server did not start on a free port in 5 attempts")


def _wait_for_redis(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether ``process`` answers on ``port``; False when it exited (the port was taken)."""
    deadline = time.monotonic() + 15
    while process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"INFO server\r\n")
                reply = b""
                while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                if f"process_id:{process.pid}\r\n".encode() in reply:
                    return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start within 15 s")
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
