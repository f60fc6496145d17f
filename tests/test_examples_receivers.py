"""The receiving examples, run against the emulator: in-process and as a user runs them."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from tests.integrations.helpers import loopback_socket, serve_aiohttp, serve_asgi
from visiono_async import VisionoClient
from visiono_async.testing import VisionoEmulator
from visiono_async.webhooks import SQLiteEventStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/{name}.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first, as a real import would: pydantic resolves the example's string
    # annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_demo(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python examples/{name}.py --demo`` as a user would, with no API key."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for variable in ("VISIONO_API_KEY", "VISIONO_BASE_URL", "PUBLIC_URL"):
        env.pop(variable, None)
    return subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), "--demo"],
        capture_output=True,
        text=True,
        timeout=50,  # inside the test timeout: the child is killed
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture
async def emu() -> AsyncIterator[VisionoEmulator]:
    """An emulator with its webhook retry schedule scaled down to fractions of a second."""
    async with VisionoEmulator(
        webhook_time_factor=0.001, rate_limit_per_minute=10_000, rate_limit_per_hour=100_000
    ) as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class TestFastAPIApp:
    async def test_creates_a_request_shows_its_qr_code_and_archives_on_submission(
        self, emu: VisionoEmulator, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        """POST creates a request with a QR code URL; completing it archives every photo."""
        example = load_example("fastapi_app")
        sock, url = loopback_socket()
        app = example.create_app(
            api_key=emu.create_api_key(),
            base_url=emu.base_url,
            public_url=url,
            archive_dir=tmp_path / "photos",
        )
        async with serve_asgi(app, sock):
            items = [{"instructions": "Front"}, {"instructions": "Back"}]
            async with http.post(f"{url}/photo-requests", json={"items": items}) as response:
                assert 201 == response.status
                created = await response.json()
            pr_id = created["id"]
            assert "pending" == created["status"]
            assert created["qrcode_url"].endswith(".png")
            async with http.get(f"{url}/photo-requests/{pr_id}") as response:
                assert f'<img src="{created["qrcode_url"]}"' in await response.text()
            async with http.get(f"{url}/api/photo-requests/{pr_id}") as response:
                as_json = await response.json()
            assert (pr_id, "pending", created["request_url"]) == (
                as_json["id"],
                as_json["status"],
                as_json["request_url"],
            )
            assert as_json["created_at"].endswith("+00:00")
            first = await emu.simulate_submission(pr_id, size=3_000)
            second = await emu.simulate_submission(pr_id, size=4_000)
            async with http.get(f"{url}/photo-requests/{pr_id}/archive") as response:
                result = await response.json()
        assert ("archived", 2, 0) == (result["status"], result["downloaded"], result["failed"])
        archived = sorted(p.name for p in (tmp_path / "photos" / pr_id).iterdir())
        assert sorted([first["id"], second["id"]]) == sorted(
            re.sub(r"^.*_(ps_\w+)\.jpg$", r"\1", n) for n in archived
        )
        # Every delivery was acknowledged, and the endpoint registered at start-up is gone.
        assert all(d.delivered for d in emu.deliveries)
        async with VisionoClient(api_key=emu.create_api_key(), base_url=emu.base_url) as client:
            assert [] == [e async for e in client.webhooks.list()]

    async def test_archive_route_answers_202_while_the_request_is_open(
        self, emu: VisionoEmulator, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        """Asking for the archive before the request is complete says it is still waiting."""
        example = load_example("fastapi_app")
        sock, url = loopback_socket()
        app = example.create_app(
            api_key=emu.create_api_key(),
            base_url=emu.base_url,
            public_url=url,
            archive_dir=tmp_path,
        )
        async with serve_asgi(app, sock):
            async with http.post(f"{url}/photo-requests", json={}) as response:
                pr_id = (await response.json())["id"]
            async with http.get(f"{url}/photo-requests/{pr_id}/archive?timeout=0.1") as response:
                assert (202, {"status": "waiting"}) == (response.status, await response.json())

    def test_the_demo_runs_as_a_script(self, tmp_path: Path) -> None:
        """python examples/fastapi_app.py --demo creates, shows the QR URL and archives."""
        result = run_demo("fastapi_app", tmp_path)
        assert (0, "") == (result.returncode, result.stderr)
        assert re.search(
            r"^created pr_\w+; QR code: http://127\.0\.0\.1:\d+/\S+\.png$", result.stdout, re.M
        )
        assert re.search(r"^archived: 2 photo\(s\) in \S+$", result.stdout, re.M)
        [folder] = (tmp_path / "photos").glob("pr_*")
        assert 2 == len(list(folder.glob("*.jpg")))


class TestAiohttpReceiver:
    async def test_receives_stores_and_answers_waiters(
        self, emu: VisionoEmulator, http: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        """Deliveries land in SQLite under their request; /wait answers when one arrives."""
        example = load_example("aiohttp_receiver")
        secret = {"value": ""}
        store = SQLiteEventStore(tmp_path / "events.db")
        app = example.create_app(lambda: secret["value"], store=store)
        async with (
            serve_aiohttp(app) as url,
            VisionoClient(api_key=emu.create_api_key(), base_url=emu.base_url) as client,
        ):
            endpoint = await client.webhooks.create(
                url=url + example.WEBHOOK_PATH,
                events=["photo_request.created", "photo_request.submitted"],
            )
            secret["value"] = endpoint.secret
            pr = await client.photo_requests.create(instructions="One photo")
            await emu.simulate_submission(pr.id, size=2_000)
            wait = f"{url}/photo-requests/{pr.id}/wait?event=photo_request.submitted"
            async with http.get(wait) as response:
                submitted = await response.json()
            deliveries = await emu.wait_for_deliveries(2, timeout=30)
            async with http.get(f"{url}/photo-requests/{pr.id}/events") as response:
                events = await response.json()
            async with http.get(f"{url}/photo-requests/pr_other/events") as response:
                other = await response.json()
        assert "photo_request.submitted" == submitted["event"]
        assert [d.id for d in deliveries] == [e["delivery_id"] for e in events]
        assert ["photo_request.created", "photo_request.submitted"] == [e["event"] for e in events]
        assert [] == other

    def test_the_demo_runs_as_a_script(self, tmp_path: Path) -> None:
        """python examples/aiohttp_receiver.py --demo prints each event and the stored list."""
        result = run_demo("aiohttp_receiver", tmp_path)
        assert (0, "") == (result.returncode, result.stderr)
        assert re.search(r"^photo ps_\w+ uploaded to pr_\w+$", result.stdout, re.M)
        assert re.search(
            r"^waited for photo_request.submitted \(delivery dlv_\w+\)$", result.stdout, re.M
        )
        assert (
            "stored: photo_request.created, photo_submission.created, photo_request.submitted"
            in result.stdout
        )
