"""``examples/create_and_download_urls.py`` runs as a script and prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "create_and_download_urls.py"


def run_example() -> subprocess.CompletedProcess[str]:
    """Run the script the way a user would, with this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("VISIONO_API_KEY", None)
    env.pop("VISIONO_BASE_URL", None)
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=50,  # inside the test timeout: the child is killed
        cwd=ROOT,
        env=env,
        check=False,
    )


class TestCreateAndDownloadURLsExample:
    """The example creates a request, submits two photos and prints their URLs."""

    def test_prints_the_request_and_two_signed_urls(self) -> None:
        """Exit 0, a ``pr_`` id, status ``submitted``, and two signed download URLs."""
        result = run_example()
        assert (0, "") == (result.returncode, result.stderr)
        out = result.stdout
        downloads = re.findall(r"download:\s+(http://127\.0\.0\.1:\d+/\S+)", out)
        assert (True, True, True, 2, True) == (
            bool(re.search(r"^created pr_\w+ \(code \w+\), status pending$", out, re.M)),
            "status after upload: submitted, 2 photo(s)" in out,
            "download URLs valid for 24 hours" in out,
            len(downloads),
            all("signature=" in url for url in downloads),
        )

    def test_reports_gps_only_where_there_is_some(self) -> None:
        """The first photo shows its GPS position, the second none."""
        out = run_example().stdout
        assert ["GPS 45.4642, 9.19", "no GPS"] == re.findall(
            r"(GPS [\d.]+, [\d.]+|no GPS)$", out, re.M
        )
