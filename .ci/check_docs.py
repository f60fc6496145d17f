"""Fail when a public name is missing from the built API reference.

Usage: ``python .ci/check_docs.py SITE_DIR`` after ``mkdocs build --strict -d SITE_DIR``.

Every module of the package whose dotted path has no ``_``-prefixed part is public. Each name
in its ``__all__`` must be documented in the reference (the site's ``objects.inv``, written by
mkdocstrings): under that module's own path, or, for a class or function, anywhere it is the
same object (``visiono_async.models.account.Stats`` is documented as
``visiono_async.models.Stats``). The package is read statically with griffe, as the docs
build reads it, so optional extras need not be installed. Prints one line per missing name
and exits 1 if any.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent
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


def public_modules(module: griffe.Module) -> Iterator[griffe.Module]:
    """``module`` and every module under it with no private part in its dotted path."""
    if not any(part.startswith("_") for part in module.path.split(".")[1:]):
        yield module
        for sub in module.modules.values():
            yield from public_modules(sub)


def canonical(package: griffe.Module, path: str) -> tuple[str, str] | None:
    """The defining path and kind of the object at ``path``, or None when it is unknown."""
    try:
        obj = package[path.removeprefix(f"{PACKAGE}.")] if path != PACKAGE else package
        target = obj.final_target if obj.is_alias else obj
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return target.path, target.kind.value


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    documented = inventory(Path(argv[0]))
    package = griffe.load(
        PACKAGE, search_paths=[str(ROOT)], try_relative_path=False, resolve_aliases=True
    )
    assert isinstance(package, griffe.Module)
    documented_targets = {
        target
        for path in documented
        if path.startswith(f"{PACKAGE}.") and (target := canonical(package, path)) is not None
    }
    missing = []
    checked = 0
    for module in public_modules(package):
        for name in module.exports or ():
            checked += 1
            path = f"{module.path}.{name}"
            target = canonical(package, path)
            same_object = (
                target is not None
                and target[1] in {"class", "function"}
                and target in documented_targets
            )
            if path not in documented and not same_object:
                missing.append(path)
    for path in missing:
        print(f"check_docs: {path} is in __all__ but not in the API reference (docs/reference/)")
    if checked == 0:
        print("check_docs: no public __all__ found: the package did not load")
        return 1
    if not missing:
        print(f"check_docs: all {checked} public names are in the API reference")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
