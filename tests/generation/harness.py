"""A running pipeline for tests: the Kie emulator, the real Kie client, our callback route, a database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.catalog.loader import Catalog
from aistudio.db.engine import create_engine
from aistudio.db.rawsql import RawDb
from aistudio.db.sql import utcnow
from aistudio.generation.context import Pipeline, PipelineSettings
from aistudio.generation.delivery import RecordingAlerts, RecordingDelivery, ResultStore
from aistudio.generation.repo import Generation
from aistudio.generation.service import GenerationService
from aistudio.generation.states import State
from aistudio.kie import InProcessLimiter, KieClient, KieGateway
from aistudio.pricing.free_tier import FreeLimits, FreeTier
from aistudio.pricing.fx import FxRate
from aistudio.sandbox.kie import EMULATOR, Emulator, EmulatorConfig, create_app
from aistudio.web.kie_callbacks import add_kie_callback_route
from tests.support import make_user

API_KEY = "test-key"
FX = FxRate(Decimal("95"), "fallback", None)
PAID_MODEL = "google/nano-banana"  # 4 credits → 3.80 ₽ at 95 ₽/$ and markup 2
PAID_PRICE = 380
FREE_MODEL = "z-image"


class SimulatedCrash(BaseException):
    """Abandons the driving task mid-way, like a killed process (not caught by the driver's handlers)."""


@dataclass
class Harness:
    url: str  # the Kie emulator
    emulator_app: web.Application
    engine: AsyncEngine
    database_url: str
    catalog: Catalog
    store_root: Path
    callback_url: str | None
    http: httpx.AsyncClient
    settings: PipelineSettings
    services: list[GenerationService] = field(default_factory=list)
    kie_clients: list[KieClient] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def emulator(self) -> Emulator:
        return self.emulator_app[EMULATOR]

    @property
    def service(self) -> GenerationService:
        return self.services[-1]

    @property
    def delivery(self) -> RecordingDelivery:
        return self.service.pipeline.delivery  # type: ignore[return-value]

    def now(self) -> datetime:
        return utcnow() + self.clock_offset

    def build(self, *, checkpoint: Callable[[str], None] | None = None, engine: AsyncEngine | None = None,
              delivery: RecordingDelivery | None = None, worker_batch: int = 200,
              **overrides: Any) -> GenerationService:  # fmt: skip
        """A fresh process's pipeline on the same database (a restart, or a second replica)."""
        engine = engine or self.engine
        client = KieClient(
            API_KEY, base_url=self.url, upload_base_url=self.url, timeout=5.0, get_attempts=3,
            backoff_base=0.01, backoff_max=0.05,
        )  # fmt: skip
        self.kie_clients.append(client)
        pipeline = Pipeline(
            db=RawDb(engine),
            ledger=Ledger(engine),
            catalog=self.catalog,
            gateway=KieGateway(client),
            limiter=InProcessLimiter(1000, 10.0),
            free_tier=FreeTier(FreeLimits(5, 2, Decimal(1000))),
            delivery=delivery or RecordingDelivery(),
            alerts=RecordingAlerts(),
            store=ResultStore(self.store_root),
            settings=replace(self.settings, **overrides),
            free_model_ids=frozenset({FREE_MODEL}),
            clock=self.now,
            checkpoint_hook=checkpoint,
        )
        service = GenerationService(pipeline, self._fx, worker_batch=worker_batch)
        self.services.append(service)
        return service

    async def _fx(self) -> FxRate:
        return FX

    def start_worker(self, service: GenerationService | None = None) -> None:
        self.workers.append(asyncio.create_task((service or self.service).run(self.stop)))

    async def user(self, user_id: int, balance: int = 10_000) -> int:
        ledger = Ledger(self.engine)
        return await make_user(self.engine, ledger, user_id, balance=balance)

    async def launch(self, user_id: int, model_id: str = PAID_MODEL, **inputs: Any) -> Generation:
        raw = {"prompt": "a red fox in the snow", **inputs}
        offer = await self.service.offer(model_id, raw)
        return await self.service.launch(user_id, offer)

    async def generation(self, generation_id: int) -> Generation:
        gen = await self.service.get(generation_id)
        assert gen is not None
        return gen

    async def wait_state(self, generation_id: int, *states: State, within: float = 10.0) -> Generation:
        deadline = time.monotonic() + within
        while True:
            gen = await self.generation(generation_id)
            if gen.state in states and (gen.state is not State.FAILED or gen.next_check_at is None):
                return gen
            if time.monotonic() > deadline:
                raise AssertionError(f"generation {generation_id} is {gen.state}, expected {states}")
            await asyncio.sleep(0.01)

    async def available(self, user_id: int) -> int:
        return (await wallet_balance(self.engine, user_id)).available

    async def assert_books_balanced(self) -> None:
        report = await check_invariants(self.engine)
        assert report.ok, report

    async def faults(self, **spec: Any) -> None:
        response = await self.http.post(f"{self.url}/sandbox/faults", json=spec)
        response.raise_for_status()

    async def stats(self) -> dict[str, int]:
        return (await self.http.get(f"{self.url}/sandbox/stats")).json()["requests"]

    async def close(self) -> None:
        self.stop.set()
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        for service in self.services:
            for task in list(service.worker._tasks):
                task.cancel()
            await asyncio.gather(*service.worker._tasks, return_exceptions=True)
        for client in self.kie_clients:
            await client.aclose()


async def start_harness(
    database_url: str, catalog: Catalog, tmp_path: Path, *, callbacks: bool, **settings: Any
) -> tuple[Harness, list[Callable[[], Any]]]:
    """Start the emulator and (with `callbacks`) our callback route; returns the harness and closers."""
    closers: list[Callable[[], Any]] = []
    emulator_app = create_app(
        EmulatorConfig(api_key=API_KEY, time_scale=0.01, duration=5.0, catalog=catalog, seed=3,
                       callback_retry_delay=0.5)
    )  # fmt: skip
    emulator = TestServer(emulator_app, host="127.0.0.1")
    await emulator.start_server()
    closers.append(emulator.close)
    engine = create_engine(database_url, pool_size=20)
    closers.append(engine.dispose)
    holder: list[Harness] = []
    callback_url = None
    if callbacks:
        web_app = web.Application()
        add_kie_callback_route(web_app, lambda: holder[0].service)
        web_server = TestServer(web_app, host="127.0.0.1")
        await web_server.start_server()
        closers.append(web_server.close)
        callback_url = str(web_server.make_url("")).rstrip("/")
    http = httpx.AsyncClient(timeout=10)
    closers.append(http.aclose)
    base = PipelineSettings(
        callback_base_url=callback_url, callback_secret="test-secret", poll_min_s=0.05, poll_max_s=0.2,
        callback_safety_poll_s=1.0, callback_safety_factor=0.0, lease_seconds=60.0,
    )  # fmt: skip
    harness = Harness(
        url=str(emulator.make_url("")).rstrip("/"), emulator_app=emulator_app, engine=engine,
        database_url=database_url, catalog=catalog, store_root=tmp_path / "results",
        callback_url=callback_url, http=http, settings=replace(base, **settings),
    )  # fmt: skip
    holder.append(harness)
    await Ledger(engine).accounts.ensure_operator_accounts()
    return harness, closers


def new_engine(database_url: str) -> AsyncEngine:
    return create_engine(database_url, pool_size=10)
