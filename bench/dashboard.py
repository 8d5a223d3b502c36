"""Admin dashboard timings on PostgreSQL: each dashboard query and the web overview page, 100k users / 1M generations.

Usage: python bench/dashboard.py [--runs 7] [--pg URL] [--database URL] [--users N] [--generations N]
Without --database a scratch database is created, seeded by `bench/admin_seed.py` (about 4-5 minutes on two
cores) and dropped at the end; with --database (e.g. one kept by `admin_seed.py --keep`) it is used as is.
Each query runs once to warm the cache, then --runs times; the figures are the median and the worst run in
ms. The page is GET /admin/ through the real aiohttp app with a signed-in session (queries + template + SVG).
Goals: each query ≤ 300 ms, the page ≤ 500 ms. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_seed import DEFAULT_PG, create_scratch, drop_scratch, seed
from aistudio.admin import stats
from aistudio.catalog.loader import load_catalog
from aistudio.config import load_settings
from aistudio.db.engine import create_engine
from aistudio.i18n import translator
from aistudio.web.admin import add_admin_routes
from aistudio.web.admin.auth import COOKIE_NAME, NewSession, issue_login_token, redeem_login_token

ADMIN_ID = 1_000_001  # a seeded user: the page renders in their language


async def timed(runs: int, work: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    await work()  # warm-up: plans cached, pages in shared buffers
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


async def measure(url: str, runs: int) -> dict[str, Any]:
    settings = load_settings(database_url=url, admin_ids=str(ADMIN_ID))
    engine = create_engine(url)
    now = datetime.now(UTC)
    today = stats.midnight(now)
    figures: dict[str, Any] = {}
    try:

        async def in_conn(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            async with engine.connect() as conn:
                return await fn(conn, *args)

        # The first view after a deploy rolls every closed day up once; later views only check for changes.
        started = time.perf_counter()
        await stats.daily_series(engine, days=90, now=now, settings=settings)
        figures["rollup_first_build_90_days_ms"] = round((time.perf_counter() - started) * 1000, 1)
        print(f"rollup first build (90 days): {figures['rollup_first_build_90_days_ms']} ms", flush=True)
        queries: dict[str, Callable[[], Awaitable[Any]]] = {
            "user_counts": lambda: in_conn(stats.user_counts, now),
            "free_tier_today": lambda: in_conn(stats.free_spent_since, today),
            "window_today_live": lambda: stats.window(engine, today.date(), now),
            "dashboard": lambda: stats.dashboard(engine, now=now, settings=settings),
            "overview_30d": lambda: stats.overview(engine, now=now, settings=settings, days=30),
            "daily_series_30d": lambda: stats.daily_series(engine, days=30, now=now, settings=settings),
            "daily_series_90d": lambda: stats.daily_series(engine, days=90, now=now, settings=settings),
            "top_models_30d": lambda: stats.top_models(engine, days=30, now=now),
        }
        for name, work in queries.items():
            figures[name] = await timed(runs, work)
            print(f"{name}: {figures[name]}", flush=True)
        figures["overview_page"] = await page_render(settings, engine, runs)
        print(f"overview_page: {figures['overview_page']}", flush=True)
    finally:
        await engine.dispose()
    return figures


async def page_render(settings: Any, engine: Any, runs: int) -> dict[str, float]:
    services = SimpleNamespace(settings=settings, engine=engine, t=translator(), catalog=load_catalog(), overrides=None)
    app = web.Application()
    add_admin_routes(app, services)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    token = await issue_login_token(engine, ADMIN_ID, ttl_seconds=600, now=now)
    session = await redeem_login_token(engine, token, admin_ids=[ADMIN_ID], session_hours=1, now=now)
    assert isinstance(session, NewSession)
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({COOKIE_NAME: session.cookie})

        async def get_overview() -> None:
            response = await client.get("/admin/")
            body = await response.text()
            assert response.status == 200 and body.count("<svg") == 4, (response.status, body[:300])

        return await timed(runs, get_overview)


async def main_async(args: argparse.Namespace) -> None:
    url = args.database
    scratch = url is None
    if scratch:
        url = await create_scratch(args.pg)
    try:
        if scratch:
            print("seeding…", flush=True)
            timings = await seed(url, users=args.users, generations=args.generations, days=90, now=datetime.now(UTC))
            print(f"seeded in {sum(timings.values()):.0f} s: {timings}", flush=True)
        figures = await measure(url, args.runs)
    finally:
        if scratch:
            await drop_scratch(args.pg, url)
    worst_query = max(v["max_ms"] for k, v in figures.items() if isinstance(v, dict) and k != "overview_page")
    summary = {
        "seeded_users": args.users, "seeded_generations": args.generations, "runs": args.runs, **figures,
        "worst_query_ms": worst_query, "queries_within_300ms": worst_query <= 300,
        "page_within_500ms": figures["overview_page"]["max_ms"] <= 500,
    }  # fmt: skip
    print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a scratch database is created)")
    parser.add_argument("--database", help="an already seeded database to measure instead")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=1_000_000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
