"""The emulator as a whole: lifecycle, serve(), the request record, pluggable storage."""

from __future__ import annotations

import aiohttp
import anyio
import pytest

import visiono_async.testing as testing
from tests.testing.helpers import Api
from visiono_async.testing import VisionoEmulator, serve

pytestmark = pytest.mark.anyio


class TestPublicSurface:
    async def test_all_is_sorted_and_exported(self) -> None:
        """``__all__`` is sorted and every name in it exists."""
        assert sorted(testing.__all__) == testing.__all__
        assert all(hasattr(testing, name) for name in testing.__all__)


class TestLifecycle:
    async def test_urls_need_a_running_emulator(self) -> None:
        """``base_url`` before start() says what to do."""
        emu = VisionoEmulator()

        with pytest.raises(RuntimeError, match="not running"):
            _ = emu.base_url

    async def test_urls_point_at_loopback(self, emu: VisionoEmulator) -> None:
        """``root_url`` is http://127.0.0.1:PORT and ``base_url`` adds /api/v1."""
        assert emu.root_url == f"http://127.0.0.1:{emu.port}"
        assert emu.base_url == emu.root_url + "/api/v1"

    async def test_starting_twice_is_an_error(self, emu: VisionoEmulator) -> None:
        """A running emulator refuses a second start()."""
        with pytest.raises(RuntimeError, match="already running"):
            await emu.start()

    async def test_a_fixed_port(self, http: aiohttp.ClientSession) -> None:
        """``port`` binds that port."""
        async with VisionoEmulator() as first:
            port = first.port
        async with VisionoEmulator(port=port) as emu:
            reply = await Api(http, emu, emu.create_api_key()).get("/status")

        assert emu.port == port
        assert reply.status == 200

    async def test_now_follows_advance_time(self, emu: VisionoEmulator) -> None:
        """The emulator clock moves forward with advance_time, never back."""
        before = emu.now()
        emu.advance_time(3600)

        assert emu.now() - before >= 3600
        with pytest.raises(ValueError, match="seconds >= 0"):
            emu.advance_time(-1)


class TestServe:
    async def test_runs_until_cancelled(self, http: aiohttp.ClientSession) -> None:
        """serve() answers requests and stops when its scope is cancelled."""
        ready: list[VisionoEmulator] = []
        answered = anyio.Event()
        status: list[int] = []

        async with anyio.create_task_group() as tg:

            def on_ready(emu: VisionoEmulator) -> None:
                ready.append(emu)
                answered.set()

            tg.start_soon(lambda: serve(0, on_ready=on_ready))
            await answered.wait()
            key = ready[0].create_api_key()
            async with http.get(ready[0].base_url + "/status", headers={"X-API-Key": key}) as resp:
                status.append(resp.status)
            tg.cancel_scope.cancel()

        assert status == [200]


class TestRecording:
    async def test_records_api_and_storage_requests(self, api: Api, emu: VisionoEmulator) -> None:
        """API paths lose their prefix; storage paths stay; query and status are kept."""
        pr = await api.create()
        await emu.simulate_submission(pr["id"])
        urls = await api.get(f"/photo-requests/{pr['id']}/download-urls", params={"x": "1"})
        async with api.http.get(urls.data["submissions"][0]["download_url"]) as resp:
            await resp.read()

        create, listing, download = emu.requests
        assert (create.method, create.path, create.status, create.api) == (
            "POST",
            "/photo-requests",
            201,
            True,
        )
        assert listing.path == f"/photo-requests/{pr['id']}/download-urls"
        assert listing.query == {"x": "1"}
        assert listing.request_id == urls.headers["X-Request-Id"]
        assert download.path.startswith("/storage/")
        assert download.api is False
        assert download.status == 200

    async def test_count_filters_by_method_and_path(self, api: Api, emu: VisionoEmulator) -> None:
        """count() is a shortcut over ``requests``."""
        pr = await api.create()
        await api.get(f"/photo-requests/{pr['id']}")
        await api.get(f"/photo-requests/{pr['id']}")

        assert emu.count() == 3
        assert emu.count("GET") == 2
        assert emu.count("get", pr["id"]) == 2
        assert emu.count("POST", "/photo-requests") == 1
        assert emu.count(path_contains="/webhooks") == 0


class FakeStorage:
    """A PhotoStorage that keeps what it was given and signs nothing."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def aclose(self) -> None:
        self.events.append("aclose")

    async def put(self, key: str, content: bytes, mime_type: str) -> None:
        self.objects[key] = (content, mime_type)

    def signed_url(self, key: str, expires_at: float) -> str:
        return f"https://storage.example/{key}?until={int(expires_at)}"


class TestPluggableStorage:
    async def test_photos_go_to_the_given_storage(self, http: aiohttp.ClientSession) -> None:
        """Uploads are put there, URLs come from it, and its lifecycle follows the emulator."""
        storage = FakeStorage()
        async with VisionoEmulator(storage=storage) as emu:
            api = Api(http, emu, emu.create_api_key())
            pr = await api.create()
            sub = await emu.simulate_submission(pr["id"], content=b"\xff\xd8\xff" + b"x" * 97)
            urls = await api.get(f"/photo-requests/{pr['id']}/download-urls")
            async with http.get(f"{emu.root_url}/storage/{sub['id']}/original.jpg") as resp:
                await resp.read()

        entry = urls.data["submissions"][0]
        assert storage.events == ["start", "aclose"]
        assert storage.objects[f"{sub['id']}/original.jpg"] == (
            b"\xff\xd8\xff" + b"x" * 97,
            "image/jpeg",
        )
        assert f"{sub['id']}/thumbnail.jpg" in storage.objects
        assert entry["download_url"].startswith(f"https://storage.example/{sub['id']}/original.jpg")
        assert resp.status == 404
