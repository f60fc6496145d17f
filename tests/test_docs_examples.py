"""Every Python sample in the documentation runs, as written, against the emulator.

Each page under ``docs/``, and the README (the package's PyPI page), is one test. Its ```` ```python ```` blocks run in order in one
namespace, the way a reader pastes them into ``python -m asyncio``: top-level ``await`` works,
and ``client`` is an open ``VisionoClient`` (the pages say so). ``$VISIONO_API_KEY`` and
``$VISIONO_BASE_URL`` point at the emulator, whose account holds one submitted photo request
with two photos, so listing and archiving samples have something to find. A block that runs
its own event loop (``anyio.run(...)``) runs as a script in a child process with the same
environment, and one that defines tests (``def test_...``) runs under pytest in a child
process, where each of its tests must pass. The working directory is a fresh temporary one.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator, sample_jpeg

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```\s*$", re.M | re.S
)
SCRIPT = re.compile(r"\b(anyio|asyncio)\.run\(")
TESTS = re.compile(r"^(async )?def test_", re.M)


def python_blocks(page: Path) -> Iterator[tuple[int, str]]:
    """Each ``python`` block of a page with the line it starts on, dedented."""
    text = page.read_text()
    for match in FENCE.finditer(text):
        if match.group("lang") != "python":
            continue
        indent = len(match.group("indent"))
        body = "".join(line[indent:] for line in match.group("body").splitlines(keepends=True))
        yield text.count("\n", 0, match.start()) + 2, body


PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if any(python_blocks(p)))]


def test_the_docs_have_samples_to_run() -> None:
    """The pages are found: an empty list would make every sample check vacuous."""
    assert {"README.md", "getting-started.md", "client.md", "archiving.md", "webhooks.md"} <= {
        p.name for p in PAGES if any(python_blocks(p))
    }


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
async def test_every_sample_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's samples run top to bottom without raising."""
    async with VisionoEmulator(rate_limit_per_minute=10_000, rate_limit_per_hour=100_000) as emu:
        key = emu.create_api_key()
        monkeypatch.setenv("VISIONO_API_KEY", key)
        monkeypatch.setenv("VISIONO_BASE_URL", emu.base_url)
        monkeypatch.setenv("VISIONO_WEBHOOK_SECRET", "whsec_docs_sample")
        monkeypatch.chdir(tmp_path)
        async with VisionoClient(rate_limit=None) as client:
            pr = await client.photo_requests.create(
                instructions="Photos of the damage",
                items=[{"instructions": "Front"}, {"instructions": "Back"}],
            )
            for item in pr.items:
                await emu.simulate_submission(
                    pr.id, item.id, content=sample_jpeg(20_000), gps=(45.46, 9.19)
                )
            namespace: dict[str, object] = {"__name__": "__docs__", "client": client}
            for line, code in python_blocks(page):
                where = f"{page.relative_to(ROOT)}:{line}"
                if TESTS.search(code):
                    (tmp_path / f"test_docs_line_{line}.py").write_text(code)
                    result = await anyio.run_process(
                        [
                            sys.executable,
                            "-m",
                            "pytest",
                            "-q",
                            "-p",
                            "no:randomly",
                            "-p",
                            "no:xdist",
                            "-p",
                            "no:cacheprovider",
                            f"test_docs_line_{line}.py",
                        ],
                        check=False,
                        env=dict(os.environ),
                    )
                    out = result.stdout.decode()
                    assert (0, True) == (result.returncode, " passed" in out), f"{where}: {out}"
                    continue
                if SCRIPT.search(code):
                    result = await anyio.run_process(
                        [sys.executable, "-c", code], check=False, env=dict(os.environ)
                    )
                    assert 0 == result.returncode, f"{where}: {result.stderr.decode()}"
                    continue
                compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                outcome = eval(compiled, namespace)
                if inspect.iscoroutine(outcome):
                    await outcome
