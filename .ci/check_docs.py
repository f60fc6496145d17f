"""Fail when a public name is missing from the built API reference.

Usage: ``python .ci/check_docs.py SITE_DIR`` after ``mkdocs build --strict -d SITE_DIR``.

Every module of the package whose path has no ``_``-prefixed part is public. Each name in
its ``__all__`` must be documented in the reference (the site's ``objects.inv``, written by
mkdocstrings): under that module's own path, or, for a class or function, anywhere it is the
same object (``visiono_async.models.account.Stats`` is documented as
``visiono_async.models.Stats``). Prints one line per missing name and exits 1 if any.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import zlib
from pathlib import Path
from types import ModuleType

PACKAGE = "visiono_async"


def inventory(site: Path) -> set[str]:
    """The Python object names listed in a Sphinx-format ``objects.inv``."""
    raw = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four plain-text header lines, then a zlib stream
        header_end = raw.index(b"\n", header_end) + 1
    names = set()
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        name, role = line.split(" ", 2)[:2]
        if role.startswith("py:"):
            names.add(name)
    return names


def public_modules() -> list[ModuleType]:
    """The package and every module under it with no private part in its dotted path."""
    root = importlib.import_module(PACKAGE)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, f"{PACKAGE}."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def resolve(path: str) -> object | None:
    """The object a documented dotted path names, or None when it does not import."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    documented = inventory(Path(argv[0]))
    documented_objects = {
        id(obj)
        for path in documented
        if path.startswith(f"{PACKAGE}.") and (obj := resolve(path)) is not None
    }
    missing = []
    checked = 0
    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            checked += 1
            path = f"{module.__name__}.{name}"
            obj = getattr(module, name)
            same_object = (isinstance(obj, type) or callable(obj)) and id(obj) in documented_objects
            if path not in documented and not same_object:
                missing.append(path)
    for path in missing:
        print(f"check_docs: {path} is in __all__ but not in the API reference (docs/reference/)")
    if not missing:
        print(f"check_docs: all {checked} public names are in the API reference")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
