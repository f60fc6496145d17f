"""The ``visiono`` console script, outside the package so that it runs before the package
is imported: Ctrl-C during the imports exits 130 with one line, not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    """Import the command line and run it; 130 when interrupted while importing."""
    try:
        from visiono_async.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return run()


if __name__ == "__main__":
    raise SystemExit(main())
