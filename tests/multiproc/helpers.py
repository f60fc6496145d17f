"""A redis-server on a unix socket that a test can kill and start again, and child output."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from tests.conftest import require_binary


class RestartableRedis:
    """redis-server listening only on a unix socket in ``workdir``: no port to race for,
    and a restart comes back at the same address."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.socket_path = workdir / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--dir", str(self.workdir),
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited at start-up")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer within 15 s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: Redis vanishes as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


@contextlib.contextmanager
def restartable_redis(workdir: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def expect_line(process: Process, expected: str, timeout: float = 30.0) -> None:
    """Read the child's stdout up to its next line, which must be ``expected``."""
    assert process.stdout is not None
    line = b""
    with anyio.fail_after(timeout):
        while not line.endswith(b"\n"):
            # One byte at a time: what follows the line stays for read_result.
            line += await process.stdout.receive(1)
    assert expected == line.decode().strip()


async def read_result(process: Process) -> dict[str, Any]:
    """The JSON line a child prints last, after it exits (its stderr kept for the failure)."""
    assert process.stdout is not None and process.stderr is not None
    out = b"".join([chunk async for chunk in process.stdout])
    err = b"".join([chunk async for chunk in process.stderr])
    await process.wait()
    assert 0 == process.returncode, err.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["stderr"] = err.decode(errors="replace")
    return result


async def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - emulator counters have no event to wait on
            await anyio.sleep(interval)
