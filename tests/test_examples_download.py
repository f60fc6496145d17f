"""The download examples run end to end against the emulator they start themselves."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

import visiono_async

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def listing(root: Path) -> list[str]:
    """Every file under ``root``, relative, sorted."""
    return sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root)
        for f in files
    )


async def run_example(name: str, dest: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(Path(visiono_async.__file__).parent.parent)}
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLES / name), str(dest)], env=env, check=False
    )
    assert 0 == result.returncode, result.stderr.decode()
    return result.stdout.decode()


class TestDownloadExamples:
    async def test_archive_photos(self, tmp_path: Path) -> None:
        """Six photos archived with sidecars; the second run downloads nothing."""
        out = await run_example("archive_photos.py", tmp_path)

        assert "6 downloaded, 0 skipped, 0 failed" in out
        assert "second run: 0 downloaded, 6 skipped" in out
        names = listing(tmp_path)
        photos = [n for n in names if n.startswith("pr_") and n.endswith(".jpg")]
        assert 6 == len(photos)
        assert {f"{p}.json" for p in photos} <= set(names)

    async def test_custom_source(self, tmp_path: Path) -> None:
        """Files from a custom source land under the custom template."""
        out = await run_example("custom_source.py", tmp_path)

        assert "4 downloaded" in out
        expected = [f"summer/photo-{n:03d}.jpg" for n in range(4)]
        assert expected == [n for n in listing(tmp_path) if not n.startswith(".visiono")]


@pytest.mark.parametrize("name", ["archive_photos.py", "custom_source.py"])
def test_examples_have_a_docstring(name: str) -> None:
    """Each example says what it shows and how to run it."""
    assert (EXAMPLES / name).read_text().lstrip().startswith('"""')
