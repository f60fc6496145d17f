"""Check the built sdist and wheel before they could be published.

Usage: ``python .ci/check_dist.py DIST_DIR`` where DIST_DIR holds exactly one ``.whl`` and
one ``.tar.gz`` (``python -m build -o DIST_DIR``). Runs ``twine check --strict`` on both,
then checks what the wheel carries: every module of the package, ``py.typed``, the license
and the project URLs, and nothing else (no tests, benchmarks or examples). Prints one line
per problem and exits 1 if there is any.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "visiono_async"
URL_LABELS = {"Homepage", "Documentation", "Source", "Changelog", "Issues"}


def one(dist: Path, pattern: str) -> Path:
    """The single file in ``dist`` matching ``pattern``; exit if there is not exactly one."""
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        sys.exit(f"check_dist: expected one {pattern} in {dist}, found {len(found)}")
    return found[0]


LAUNCHER = "_visiono_cli.py"
"""The console script's launcher, beside the package so Ctrl-C during its imports is caught."""


def wheel_problems(wheel: Path) -> list[str]:
    """What is wrong with the wheel's contents and metadata."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next((n.split("/")[0] for n in names if ".dist-info/" in n), None)
        if dist_info is None:
            return [f"{wheel.name}: no .dist-info directory"]
        metadata = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())

    for name in names:
        top = name.split("/")[0]
        if top not in {PACKAGE, dist_info, LAUNCHER}:
            problems.append(f"wheel: unexpected top-level entry {name!r}")
        if "__pycache__" in name or name.endswith(".pyc"):
            problems.append(f"wheel: compiled file {name!r}")
    if LAUNCHER not in names:
        problems.append(f"wheel: {LAUNCHER} (the visiono command's launcher) is missing")
    if f"{PACKAGE}/py.typed" not in names:
        problems.append("wheel: py.typed is missing (type checkers would ignore the package)")
    source_modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    for missing in sorted(source_modules - set(names)):
        problems.append(f"wheel: module {missing} is missing")
    if not any(n.startswith(f"{dist_info}/licenses/LICENSE") for n in names):
        problems.append("wheel: the LICENSE file is missing")

    if metadata.get("License-Expression") != "MIT":
        problems.append(f"metadata: License-Expression is {metadata.get('License-Expression')!r}")
    labels = {u.split(",")[0].strip() for u in metadata.get_all("Project-URL") or []}
    for label in sorted(URL_LABELS - labels):
        problems.append(f"metadata: Project-URL {label} is missing")
    if not metadata.get("Keywords"):
        problems.append("metadata: no keywords")
    return problems


def sdist_problems(sdist: Path) -> list[str]:
    """What is missing from the sdist."""
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    return [
        f"sdist: {required} is missing"
        for required in (
            "LICENSE",
            "README.md",
            "CHANGELOG.md",
            "pyproject.toml",
            f"{PACKAGE}/py.typed",
        )
        if required not in names
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    dist = Path(argv[0])
    wheel, sdist = one(dist, "*.whl"), one(dist, "*.tar.gz")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], check=False
    )
    problems = wheel_problems(wheel) + sdist_problems(sdist)
    if twine.returncode != 0:
        problems.append("twine check --strict failed (see above)")
    for problem in problems:
        print(f"check_dist: {problem}")
    if not problems:
        print(f"check_dist: {wheel.name} and {sdist.name} are fit to publish")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
