"""``visiono emulator``: run the Visiono emulator on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import AsyncIterator

import anyio


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` subcommand."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a local Visiono emulator (real HTTP on 127.0.0.1)",
        description=(
            "Run the Visiono emulator: the API, signed expiring download URLs and webhooks, "
            "in memory, on loopback. It prints its base URL and a test API key that only this "
            "emulator accepts."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to listen on (default 8765; 0 picks a free one)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--plan", default="pro", choices=["free", "pro", "business"], help="plan of the test key"
    )
    parser.add_argument(
        "--rate-limit-per-minute", type=int, default=60, help="API calls per minute (default 60)"
    )
    parser.add_argument(
        "--rate-limit-per-hour", type=int, default=1000, help="API calls per hour (default 1000)"
    )
    parser.add_argument(
        "--storage",
        choices=["memory", "nginx"],
        default="memory",
        help="serve photos from the emulator itself (memory) or from a real nginx with secure_link",
    )
    parser.add_argument(
        "--webhook-time-factor",
        type=float,
        default=1.0,
        metavar="F",
        help=(
            "multiply the webhook retry delays (1, 5 and 30 minutes) by F, e.g. 0.01 for "
            "retries after 0.6, 3 and 18 s (default 1; the delivery timeout stays its own, "
            "see --webhook-timeout)"
        ),
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=None,
        metavar="S",
        help=(
            "seconds a receiver has to answer a delivery before it counts as failed and is "
            "retried (default Visiono's 30)"
        ),
    )
    parser.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until interrupted."""
    from ..testing import NginxStorage, NginxStorageError, VisionoEmulator

    if args.webhook_time_factor <= 0:
        print("visiono emulator: --webhook-time-factor must be positive", file=sys.stderr)
        return 2
    if args.webhook_timeout is not None and not args.webhook_timeout > 0:
        print("visiono emulator: --webhook-timeout must be positive", file=sys.stderr)
        return 2
    timeout = {} if args.webhook_timeout is None else {"webhook_timeout": args.webhook_timeout}
    # Installed first: SIGTERM or SIGHUP (kill, a closed terminal), even while nginx
    # starts, stops the emulator the way Ctrl-C does, nginx ended and its folder removed.
    with _termination_signals() as stop:
        emu = VisionoEmulator(
            storage=NginxStorage() if args.storage == "nginx" else None,
            host=args.host,
            port=args.port,
            rate_limit_per_minute=args.rate_limit_per_minute,
            rate_limit_per_hour=args.rate_limit_per_hour,
            webhook_time_factor=args.webhook_time_factor,
            **timeout,
        )
        try:
            await emu.start()
        except NginxStorageError as exc:
            print(f"visiono emulator: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(
                f"visiono emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
        try:
            key = emu.create_api_key(plan=args.plan)
            print(f"Visiono emulator listening on {emu.root_url}")
            print(f"  export VISIONO_BASE_URL={emu.base_url}")
            print(f"  export VISIONO_API_KEY={key}   # a test key, valid only on this emulator")
            print("Press Ctrl-C to stop.")
            sys.stdout.flush()
            async for _ in stop:  # SIGTERM or SIGHUP; Ctrl-C arrives as a cancellation
                break
        finally:
            with anyio.CancelScope(shield=True):
                await emu.aclose()
        return 0


def _termination_signals() -> contextlib.AbstractContextManager[AsyncIterator[signal.Signals]]:
    if sys.platform == "win32":  # pragma: no cover - no such signals to receive there
        return contextlib.nullcontext(_never())
    return anyio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP)


async def _never() -> AsyncIterator[signal.Signals]:  # pragma: no cover - Windows
    await anyio.sleep_forever()
    yield signal.SIGTERM
