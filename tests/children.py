"""Child processes for tests: SIGINT works in them, and none outlives its test.

A test run started with SIGINT ignored (``nohup``, or ``cmd &`` from a script) passes that
on to every child it starts, and a Python child whose SIGINT is ignored never sees Ctrl-C.
The tests that send SIGINT to a child restore its default action in the child first.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Mapping

import anyio
from anyio.abc import Process

# Restore SIGINT's default action, then become ``python ARGS``: Python installs its
# KeyboardInterrupt handler only where SIGINT is not ignored at start-up.
_RESTORE_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def python_command(*args: str) -> list[str]:
    """``python ARGS`` (this interpreter) with SIGINT's default action restored."""
    return [sys.executable, "-c", _RESTORE_SIGINT, *args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, unbuffered output, plus ``extra``."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


@contextlib.asynccontextmanager
async def python_child(
    *args: str, env: Mapping[str, str] | None = None, grace: float = 10.0
) -> AsyncIterator[Process]:
    """``python ARGS`` as a child process that is killed if it outlives the block.

    On leaving the block a child still running gets SIGTERM, then SIGKILL after ``grace``
    seconds, so a failed or timed-out test never waits for it forever.
    """
    process = await anyio.open_process(python_command(*args), env=dict(env or child_env()))
    try:
        yield process
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                with anyio.move_on_after(grace):
                    await process.wait()
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await process.aclose()
