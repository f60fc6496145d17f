"""Run Python code in a child interpreter where some modules cannot be imported.

A meta-path finder installed before anything else refuses the named top-level modules, as
an interpreter without them (a missing extra, or Windows for ``pwd``/``grp``) would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

_PRELUDE = """
import sys

class _Refuse:
    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

_blocked = _Refuse(BLOCKED)
sys.meta_path.insert(0, _blocked)
for _name in list(sys.modules):
    if _name.partition(".")[0] in _blocked.names:
        del sys.modules[_name]
"""


def run_without(
    blocked: Iterable[str], code: str, *, env: dict[str, str] | None = None, timeout: float = 40
) -> subprocess.CompletedProcess[str]:
    """``python -c PRELUDE + code`` with ``blocked`` refused; its result (never raises)."""
    script = _PRELUDE.replace("BLOCKED", repr(sorted(blocked))) + code
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else dict(os.environ),
        check=False,
    )
