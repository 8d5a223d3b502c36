"""Generation pipeline under load: N concurrent generations through the Kie emulator, with callbacks and by polling.

Usage: python bench/generation.py [--n 2000] [--quick] [--sqlite] [--pg URL]
The Kie emulator runs as its own process (tasks take 5–20 s with callbacks, 60 s when polling); this process
runs the real pipeline: the Kie client, our callback route, the resumer, the ledger, on a scratch database.
Kie's account limit (20 new tasks per 10 s) is lifted for the run: it would make the run 15 minutes of
queueing and measure the limit, not the pipeline. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, operator_balance
from aistudio.catalog.loader import load_catalog
from aistudio.db.engine import create_engine
from aistudio.db.migrate import upgrade_to_head
from aistudio.db.rawsql import RawDb
from aistudio.generation.context import Pipeline, PipelineSettings
from aistudio.generation.delivery import Failure, RecordingAlerts, ResultFile, ResultStore
from aistudio.generation.launch import launch
from aistudio.generation.repo import Generation
from aistudio.generation.service import GenerationService
from aistudio.kie import InProcessLimiter, KieClient, KieGateway
from aistudio.pricing.free_tier import FreeLimits, FreeTier
from aistudio.pricing.fx import FxRate
from aistudio.web.kie_callbacks import add_kie_callback_route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger import pg_admin, seed_wallets

DEFAULT_PG = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
MODEL = "google/nano-banana"
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TimedDelivery:
    """Records when each result reached the (emulated) user; keeps nothing else in memory."""

    delivered_at_ms: dict[int, float] = field(default_factory=dict)
    delivered_twice: int = 0
    failed: int = 0

    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        if gen.id in self.delivered_at_ms:
            self.delivered_twice += 1
        self.delivered_at_ms[gen.id] = time.time() * 1000
        return [{"file_id": f"bench-{gen.id}-{i}"} for i in range(len(files))]

    async def fail(self, gen: Generation, failure: Failure) -> None:
        self.failed += 1

    async def progress(self, gen: Generation, state: str) -> None:
        return None

    async def unconfirmed(self, gen: Generation) -> None:
        return None


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aistudio.sandbox.kie", "--port", str(port), "--api-key", API_KEY,
         "--credits", "1000000000", "--seed", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def wait_http(url: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while True:
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def run_mode(database_url: str, kie_url: str, *, n: int, callbacks: bool, duration: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{kie_url}/sandbox/reset")
        await http.post(f"{kie_url}/sandbox/timing", json={"duration": duration})
    engine = create_engine(database_url, pool_size=30)
    delivery = TimedDelivery()
    web_runner = None
    callback_base = None
    if callbacks:
        port = free_port()
        app = web.Application()
        holder: list[GenerationService] = []
        add_kie_callback_route(app, lambda: holder[0])
        web_runner = web.AppRunner(app, access_log=None)
        await web_runner.setup()
        await web.TCPSite(web_runner, "127.0.0.1", port).start()
        callback_base = f"http://127.0.0.1:{port}"
    client = KieClient(API_KEY, base_url=kie_url, upload_base_url=kie_url, max_connections=16)
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as results:
        pipeline = Pipeline(
            db=RawDb(engine), ledger=Ledger(engine), catalog=catalog, gateway=KieGateway(client),
            limiter=InProcessLimiter(100_000, 10.0), free_tier=FreeTier(FreeLimits(5, 2, Decimal(0))),
            delivery=delivery, alerts=RecordingAlerts(), store=ResultStore(Path(results)),
            settings=PipelineSettings(callback_base_url=callback_base, callback_secret="bench", lease_seconds=300),
        )  # fmt: skip
        fx = FxRate(Decimal("95"), "fallback", None)

        async def current_fx() -> FxRate:
            return fx

        service = GenerationService(pipeline, current_fx)
        if callbacks:
            holder.append(service)
        users = await seed_wallets(pipeline.ledger, n)
        offer = await service.offer(MODEL, {"prompt": "bench"})
        stop = asyncio.Event()
        worker = asyncio.create_task(service.run(stop))
        started = time.monotonic()
        gens = await asyncio.gather(*(launch(pipeline, user_id=u, offer=offer) for u in users))
        for gen in gens:
            service.worker.drive_soon(gen.id)
        launched_s = time.monotonic() - started
        ids = [g.id for g in gens]
        limit = started + 120 + (60 if not callbacks else 20)
        while time.monotonic() < limit:
            if len(delivery.delivered_at_ms) + delivery.failed >= n:
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        stop.set()
        await worker
        await service.drain()
        async with httpx.AsyncClient(timeout=60) as http:
            stats = (await http.get(f"{kie_url}/sandbox/stats")).json()["requests"]
            tasks = (await http.get(f"{kie_url}/sandbox/tasks")).json()["tasks"]
        api_requests = sum(count for endpoint, count in stats.items() if " /api/" in endpoint)
        completed_ms = {t["taskId"]: t["completeTime"] for t in tasks if t.get("completeTime")}
        async with pipeline.db.transaction() as tx:
            finished = [await pipeline.repo.get(tx, gid) for gid in ids]
        latencies = [
            (delivery.delivered_at_ms[g.id] - completed_ms[g.kie_task_id]) / 1000
            for g in finished
            if g and g.id in delivery.delivered_at_ms and g.kie_task_id in completed_ms
        ]
        report = await check_invariants(engine)
        charged = sum(g.charged_kopecks for g in finished if g)
        revenue = await operator_balance(engine, Operator.REVENUE)
        terminal = sum(1 for g in finished if g and g.state in ("completed", "failed"))
        lost = n - terminal + delivery.delivered_twice
    await client.aclose()
    if web_runner:
        await web_runner.cleanup()
    await engine.dispose()
    latencies.sort()
    return {
        "n": n,
        "launched_in_s": round(launched_s, 2),
        "elapsed_s": round(elapsed, 1),
        "delivered": len(delivery.delivered_at_ms),
        "failed": delivery.failed,
        "kie_api_requests": api_requests,
        "requests_per_generation": round(api_requests / n, 3),
        "delivery_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "delivery_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3) if latencies else None,
        "lost": lost,
        "money_conserved": report.ok and charged == revenue,
        "requests": {k: v for k, v in stats.items() if " /api/" in k},
        "polls_histogram": {str(k): sum(1 for g in finished if g and g.poll_count == k) for k in range(0, 6)},
        "callbacks_per_task": {str(k): sum(1 for t in tasks if len(t.get("callbacks") or []) == k) for k in range(4)},
    }


def scratch_pg(base: str) -> str:
    name = f"aistudio_genbench_{uuid.uuid4().hex[:8]}"
    pg_admin(base, f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    upgrade_to_head(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="n=200")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--only", choices=["callback", "polling"], help="run one mode (diagnostics)")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    port = free_port()
    emulator = start_emulator(port)
    kie_url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    scratch: list[str] = []
    try:
        asyncio.run(wait_http(f"{kie_url}/sandbox/stats"))
        for mode, callbacks, duration in (("callback", True, [5, 20]), ("polling", False, 60)):
            if args.only and mode != args.only:
                results[mode] = {"requests_per_generation": None, "delivery_p50_s": None, "delivery_p99_s": None,
                                 "lost": 0, "money_conserved": True, "cpu_ms_per_generation": None}  # fmt: skip
                continue
            with tempfile.TemporaryDirectory() as tmp:
                if args.sqlite:
                    url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
                    upgrade_to_head(url)
                else:
                    url = scratch_pg(args.pg)
                    scratch.append(url)
                print(f"{mode}: {n} generations, tasks of {duration} s ...", flush=True)
                cpu_started = time.process_time()
                results[mode] = asyncio.run(run_mode(url, kie_url, n=n, callbacks=callbacks, duration=duration))
                # CPU of this process (launch, callbacks, delivery, ledger; not the emulator or the database)
                # per generation: unlike latency, it hardly depends on what else the machine is doing.
                cpu_ms = (time.process_time() - cpu_started) * 1000 / n
                results[mode]["cpu_ms_per_generation"] = round(cpu_ms, 2)
                print(f"{mode}: {results[mode]}", flush=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        for url in scratch:
            pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "requests_per_generation_callback": results["callback"]["requests_per_generation"],
        "requests_per_generation_polling": results["polling"]["requests_per_generation"],
        "delivery_p50_s_callback": results["callback"]["delivery_p50_s"],
        "delivery_p99_s_callback": results["callback"]["delivery_p99_s"],
        "delivery_p50_s_polling": results["polling"]["delivery_p50_s"],
        "delivery_p99_s_polling": results["polling"]["delivery_p99_s"],
        "cpu_ms_per_generation_callback": results["callback"]["cpu_ms_per_generation"],
        "cpu_ms_per_generation_polling": results["polling"]["cpu_ms_per_generation"],
        "peak_rss_mb": round(peak_rss_mb, 1),
        "lost": results["callback"]["lost"] + results["polling"]["lost"],
        "money_conserved": results["callback"]["money_conserved"] and results["polling"]["money_conserved"],
        "n": n,
        "database": "sqlite" if args.sqlite else "postgresql",
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
