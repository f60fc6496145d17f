"""``visiono_async.testing`` without POSIX-only modules, as on Windows.

A child Python refuses ``pwd``, ``grp`` and the other modules Windows lacks, then imports
the emulator, runs it and calls it with the client.
"""

from __future__ import annotations

from tests.blocked_imports import run_without

NOT_ON_WINDOWS = {"pwd", "grp", "fcntl", "termios", "resource", "pty", "tty", "syslog"}

RUN_THE_EMULATOR = """
import anyio
import visiono_async.testing as testing
from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator, sample_jpeg

async def main():
    async with VisionoEmulator() as emu:
        async with VisionoClient(api_key=emu.create_api_key(), base_url=emu.base_url) as client:
            pr = await client.photo_requests.create(instructions="x")
            await emu.simulate_submission(pr.id, content=sample_jpeg(2_000))
            urls = await client.photo_requests.download_urls(pr.id)
            print(len(urls.submissions), (await client.status()).status)

anyio.run(main)
import sys
print(sorted(m for m in ("pwd", "grp", "fcntl") if m in sys.modules))
print(testing.NginxStorage.__name__, testing.NginxStorageError.__mro__[1].__name__)
"""


class TestImportWithoutPosix:
    def test_the_emulator_imports_and_runs(self) -> None:
        """Import, serve, create, submit, list URLs: nothing needs pwd, grp or fcntl."""
        result = run_without(NOT_ON_WINDOWS, RUN_THE_EMULATOR)
        assert 0 == result.returncode, result.stderr
        counted, loaded, names = result.stdout.strip().splitlines()
        assert counted.startswith("1 ")
        assert "[]" == loaded
        assert "NginxStorage RuntimeError" == names

    def test_the_blocker_really_blocks(self) -> None:
        """The child cannot import pwd: the test above would notice an import of it."""
        result = run_without(NOT_ON_WINDOWS, "import pwd\n")
        assert 0 != result.returncode
        assert "No module named 'pwd'" in result.stderr

    def test_the_nginx_module_itself_imports(self) -> None:
        """Only starting nginx as root needs pwd/grp; the module and its errors load."""
        result = run_without(
            NOT_ON_WINDOWS,
            "from visiono_async.testing._nginx import NginxStorage, NginxStorageError\n"
            "print(NginxStorage.__doc__.splitlines()[0])\n",
        )
        assert 0 == result.returncode, result.stderr
