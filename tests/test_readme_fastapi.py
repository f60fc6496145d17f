"""The README's FastAPI app, run as written: under uvicorn, against the emulator."""

from __future__ import annotations

import re
import types
from pathlib import Path

import aiohttp
import anyio
import pytest

from tests.integrations.helpers import loopback_socket, serve_asgi
from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator

README = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


def readme_fastapi_app() -> str:
    """The Python block that follows 'A complete FastAPI app' in the README."""
    text = README.read_text("utf-8")
    start = text.index("A complete FastAPI app")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match is not None
    return match.group(1)


async def test_the_readme_app_receives_a_real_delivery_and_answers_a_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Visiono (the emulator) delivers photo_request.submitted; the route answers the model."""
    monkeypatch.chdir(tmp_path)
    sock, url = loopback_socket()
    async with VisionoEmulator(webhook_time_factor=0.001) as emu, aiohttp.ClientSession() as http:
        key = emu.create_api_key()
        async with VisionoClient(api_key=key, base_url=emu.base_url) as client:
            endpoint = await client.webhooks.create(
                url=f"{url}/webhooks/visiono", events=["photo_request.submitted"]
            )
            assert endpoint.secret
            monkeypatch.setenv("VISIONO_WEBHOOK_SECRET", endpoint.secret)
            monkeypatch.setenv("VISIONO_API_KEY", key)
            monkeypatch.setenv("VISIONO_BASE_URL", emu.base_url)
            module = types.ModuleType("readme_app")
            exec(compile(readme_fastapi_app(), "docs/webhooks.md", "exec"), module.__dict__)
            async with serve_asgi(module.app, sock):
                pr = await client.photo_requests.create(
                    instructions="x", items=[{"instructions": "Front", "is_required": True}]
                )
                await emu.simulate_submission(pr.id, size=2_000)
                await emu.wait_for_deliveries()
                assert [202] == [a.status_code for d in emu.deliveries for a in d.attempts]
                printed = ""
                with anyio.fail_after(10):  # the handler runs after the 202
                    while f"submitted: {pr.id}" not in printed:
                        printed += capsys.readouterr().out
                        await anyio.sleep(0.01)
                async with http.get(f"{url}/photo-requests/{pr.id}") as response:
                    assert 200 == response.status
                    shown = await response.json()
        assert (pr.id, "submitted") == (shown["id"], shown["status"])
        assert (tmp_path / "events.db").exists()
