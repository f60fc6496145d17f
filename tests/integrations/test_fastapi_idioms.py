"""FastAPI idioms: SDK models as route types, the lifespan, ``Depends(visiono_client)``.

Apps run under a real uvicorn on loopback and call the emulator; the dependency's
failure path runs through httpx's ASGI transport, which re-raises the app's exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import httpx
import pytest
from fastapi import Depends, FastAPI

from tests.integrations.helpers import Recorder, serve_asgi
from visiono_async import VisionoClient
from visiono_async.integrations.fastapi import (
    VisionoClientDep,
    get_client,
    visiono_client,
    visiono_lifespan,
    webhook_router,
)
from visiono_async.models import DownloadURLs, PhotoRequest, Submission
from visiono_async.testing import VisionoEmulator
from visiono_async.webhooks import MemoryEventStore, WebhookReceiver, build_delivery

SECRET = "whsec_idioms"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def model_app(emulator: VisionoEmulator, key: str) -> FastAPI:
    """Routes that return SDK models every way a FastAPI user would."""
    app = FastAPI(lifespan=visiono_lifespan(api_key=key, base_url=emulator.base_url))

    @app.get("/requests/{photo_request_id}")
    async def typed(photo_request_id: str, client: VisionoClientDep) -> PhotoRequest:
        return await client.photo_requests.get(photo_request_id)

    @app.get("/requests/{photo_request_id}/submissions")
    async def typed_list(photo_request_id: str, client: VisionoClientDep) -> list[Submission]:
        return await client.photo_requests.submissions(photo_request_id)

    @app.get("/requests/{photo_request_id}/urls")
    async def urls(photo_request_id: str, client: VisionoClientDep) -> DownloadURLs:
        return await client.photo_requests.download_urls(photo_request_id)

    @app.get("/requests/{photo_request_id}/as-dict", response_model=PhotoRequest)
    async def as_dict(photo_request_id: str, client: VisionoClientDep) -> dict[str, Any]:
        return (await client.photo_requests.get(photo_request_id)).to_dict()

    @app.get("/requests/{photo_request_id}/untyped")
    async def untyped(photo_request_id: str, client: VisionoClientDep):  # type: ignore[no-untyped-def]
        return await client.photo_requests.get(photo_request_id)

    @app.get("/broken")
    async def broken() -> PhotoRequest:
        return {"status": "pending"}  # type: ignore[return-value]  # no id: not a photo request

    return app


class TestModelsAsRouteTypes:
    async def test_a_route_typed_with_a_model_answers_its_wire_json(
        self, emulator: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """``-> PhotoRequest`` defines, and answers what the API sent (ISO datetimes)."""
        key = emulator.create_api_key()
        async with VisionoClient(api_key=key, base_url=emulator.base_url) as client:
            pr = await client.photo_requests.create(
                instructions="Upload", items=[{"instructions": "Front"}], metadata={"k": "v"}
            )
            await emulator.simulate_submission(pr.id, size=2_000)
            expected = (await client.photo_requests.get(pr.id)).to_dict()
        async with serve_asgi(model_app(emulator, key)) as url:
            for path in ("", "/as-dict", "/untyped"):
                async with http.get(f"{url}/requests/{pr.id}{path}") as response:
                    assert 200 == response.status, path
                    assert expected == await response.json(), path
            async with http.get(f"{url}/requests/{pr.id}/submissions") as response:
                submissions = await response.json()
            async with http.get(f"{url}/requests/{pr.id}/urls") as response:
                urls = await response.json()
        assert expected["created_at"].endswith("+00:00")
        assert [pr.id] == [s["photo_request_id"] for s in submissions]
        assert urls["submissions"][0]["download_url"].startswith("http")
        assert submissions[0]["id"] == urls["submissions"][0]["id"]

    async def test_a_route_returning_something_else_fails_validation(
        self, emulator: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """A dict without an id is not a PhotoRequest: FastAPI answers 500, nothing leaks."""
        app = model_app(emulator, emulator.create_api_key())
        async with serve_asgi(app) as url, http.get(f"{url}/broken") as response:
            assert 500 == response.status
            assert "pending" not in await response.text()

    async def test_the_openapi_schema_describes_the_model(self, emulator: VisionoEmulator) -> None:
        """/openapi.json builds; the response schema lists the fields, allows newer ones."""
        app = model_app(emulator, emulator.create_api_key())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            schema = (await http.get("/openapi.json")).json()
        ok = schema["paths"]["/requests/{photo_request_id}"]["get"]["responses"]["200"]
        body = ok["content"]["application/json"]["schema"]
        # "id" is always required; pydantic before 2.5 marks every field required in the
        # response (serialisation) schema, which to_dict() also fulfils.
        assert "id" in body["required"]
        assert set(body["required"]) <= set(body["properties"])
        assert body["additionalProperties"] is True
        assert {"type": "string", "format": "date-time"} in body["properties"]["created_at"][
            "anyOf"
        ]
        statuses = schema["components"]["schemas"]["PhotoRequestStatus"]["enum"]
        assert ["pending", "in_progress", "submitted", "expired", "cancelled"] == statuses
        listed = schema["paths"]["/requests/{photo_request_id}/submissions"]["get"]
        items = listed["responses"]["200"]["content"]["application/json"]["schema"]["items"]
        assert "Submission" == items["title"]


class TestLifespanAndDependency:
    async def test_one_client_serves_every_request_and_closes_at_shutdown(
        self, emulator: VisionoEmulator, http: aiohttp.ClientSession
    ) -> None:
        """Depends(visiono_client) and VisionoClientDep hand out the same client, closed after."""
        seen: list[VisionoClient] = []
        app = FastAPI(
            lifespan=visiono_lifespan(api_key=emulator.create_api_key(), base_url=emulator.base_url)
        )

        @app.get("/a")
        async def a(client: Annotated[VisionoClient, Depends(visiono_client)]) -> dict[str, str]:
            seen.append(client)
            return {"status": str((await client.status()).status)}

        @app.get("/b")
        async def b(client: VisionoClientDep) -> dict[str, bool]:
            seen.append(client)
            return {"open": not client.closed}

        async with serve_asgi(app) as url:
            for path in ("/a", "/b", "/a"):
                async with http.get(url + path) as response:
                    assert 200 == response.status
        assert 3 == len(seen)
        assert 1 == len({id(c) for c in seen})
        assert seen[0].closed
        assert get_client is visiono_client

    async def test_a_receive_only_app_needs_no_api_key(
        self, monkeypatch: pytest.MonkeyPatch, http: aiohttp.ClientSession
    ) -> None:
        """client=False: no VISIONO_API_KEY, the app starts and receives a signed delivery."""
        monkeypatch.delenv("VISIONO_API_KEY", raising=False)
        recorder = Recorder()
        receiver = WebhookReceiver(SECRET, recorder, store=MemoryEventStore())
        app = FastAPI(lifespan=visiono_lifespan(receiver=receiver, client=False))
        app.include_router(webhook_router(receiver))
        pr = {"photo_request": {"id": "pr_1", "status": "submitted"}}
        delivery = build_delivery("photo_request.submitted", pr, SECRET)
        async with serve_asgi(app) as url:
            async with http.post(
                f"{url}/webhooks/visiono", data=delivery.body, headers=delivery.headers
            ) as response:
                assert 202 == response.status
            await recorder.wait_until(lambda: len(recorder.events) == 1)
        assert "pr_1" == recorder.events[0].photo_request.id  # type: ignore[attr-defined]

    async def test_without_the_flag_a_missing_key_stops_start_up(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An app that needs a client and has no key fails at start-up, naming the variable."""
        monkeypatch.delenv("VISIONO_API_KEY", raising=False)
        lifespan = visiono_lifespan()
        with pytest.raises(ValueError, match="VISIONO_API_KEY"):
            async with lifespan(FastAPI()):
                pass

    async def test_the_dependency_in_a_receive_only_app_says_why(self) -> None:
        """Depends(visiono_client) with client=False raises a RuntimeError naming the cause."""
        app = FastAPI(lifespan=visiono_lifespan(client=False))

        @app.get("/needs-client")
        async def needs(client: VisionoClientDep) -> dict[str, str]:
            return {"base_url": client.base_url}

        async with visiono_lifespan(client=False)(app) as state:
            assert {} == state
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            with pytest.raises(RuntimeError, match="client=False"):
                await http.get("/needs-client")

    def test_client_options_with_no_client_are_refused(self) -> None:
        """client=False with api_key=... is a mistake caught when the app is built."""
        with pytest.raises(ValueError, match="api_key"):
            visiono_lifespan(client=False, api_key="vsk_test_x")

    async def test_the_client_can_be_entered_from_an_own_lifespan(
        self, emulator: VisionoEmulator
    ) -> None:
        """``async with visiono_lifespan(...)(app) as state`` gives the client, then closes it."""
        lifespan = visiono_lifespan(api_key=emulator.create_api_key(), base_url=emulator.base_url)
        async with lifespan(FastAPI()) as state:
            client = state["visiono"]
            assert isinstance(client, VisionoClient)
            await client.status()
        assert 1 == emulator.count("GET", "/status")
        assert client.closed
