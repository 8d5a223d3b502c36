"""Fixtures: the real Kie emulator on 127.0.0.1, the real client pointed at it, a callback receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aistudio.catalog.loader import Catalog, load_catalog
from aistudio.catalog.models import Family
from aistudio.kie import KieClient, KieGateway, TaskStatus
from aistudio.sandbox.kie import EMULATOR, Emulator, EmulatorConfig, create_app
from tests.kie.specs import family_specs

API_KEY = "test-key"
HMAC_KEY = "whsec-test"
START_CREDITS = Decimal(1000)
# 5 emulated seconds per task at 1/100 speed: a task ends 50 ms after it starts.
TIME_SCALE = 0.01
DURATION = 5.0


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped Market models plus one model per family built in the tests (see specs.py)."""
    market = [m for m in load_catalog() if m.family is Family.MARKET]
    return Catalog([*market, *family_specs()])


@dataclass
class Sandbox:
    """A running emulator and a plain HTTP client for its control API."""

    url: str
    app: web.Application
    http: httpx.AsyncClient

    @property
    def emulator(self) -> Emulator:
        return self.app[EMULATOR]

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, f"{self.url}{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def faults(self, **spec: Any) -> Any:
        return await self.control("POST", "/sandbox/faults", spec)

    async def stats(self) -> dict[str, Any]:
        return await self.control("GET", "/sandbox/stats")

    async def requests_to(self, endpoint: str) -> int:
        """How many requests an endpoint got, e.g. "POST /api/v1/jobs/createTask"."""
        return (await self.stats())["requests"].get(endpoint, 0)

    async def tasks(self) -> list[dict[str, Any]]:
        return (await self.control("GET", "/sandbox/tasks"))["tasks"]


@pytest.fixture
async def sandbox(catalog: Catalog) -> AsyncIterator[Sandbox]:
    config = EmulatorConfig(
        api_key=API_KEY,
        hmac_key=HMAC_KEY,
        credits=START_CREDITS,
        time_scale=TIME_SCALE,
        duration=DURATION,
        catalog=catalog,
        seed=7,
        callback_retry_delay=1.0,
    )
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with httpx.AsyncClient(timeout=10) as http:
        yield Sandbox(str(server.make_url("")).rstrip("/"), app, http)
    await server.close()


@pytest.fixture
async def kie(sandbox: Sandbox) -> AsyncIterator[KieClient]:
    """The production client, with short timeouts and backoff so failure tests stay fast."""
    client = KieClient(
        API_KEY,
        base_url=sandbox.url,
        upload_base_url=sandbox.url,
        timeout=2.0,
        connect_timeout=2.0,
        get_attempts=3,
        backoff_base=0.01,
        backoff_max=0.02,
    )
    yield client
    await client.aclose()


@pytest.fixture
def gateway(kie: KieClient) -> KieGateway:
    return KieGateway(kie)


async def wait_for_status(
    read: Callable[[], Awaitable[TaskStatus]], within: float = 5.0, interval: float = 0.01
) -> TaskStatus:
    """Poll until the task ends (what the generation service does, minus the backoff)."""
    deadline = time.monotonic() + within
    while True:
        status = await read()
        if status.is_terminal:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {status.state} after {within}s")
        await asyncio.sleep(interval)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """A tiny web server standing in for our /kie/callback route; records every POST."""

    url: str
    calls: list[Received] = field(default_factory=list)
    # Status codes to answer, in order; 200 once the list is used up.
    answers: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    files: dict[str, bytes] = field(default_factory=dict)
    file_requests: list[dict[str, str]] = field(default_factory=list)  # headers of each file GET

    async def wait_for(self, count: int, within: float = 3.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.calls) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} callbacks, got {len(self.calls)}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=remaining)
        return self.calls


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def record(request: web.Request) -> web.Response:
        state.calls.append(Received(request.path, dict(request.headers), await request.json(), time.monotonic()))
        state.arrived.set()
        status = state.answers.pop(0) if state.answers else 200
        return web.json_response({"ok": status == 200}, status=status)

    async def serve_file(request: web.Request) -> web.Response:
        state.file_requests.append(dict(request.headers))
        data = state.files.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    app.router.add_get("/files/{name}", serve_file)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()
