"""Ledger throughput: hold+capture pairs per second on SQLite and PostgreSQL, next to pgbench's TPS.

Usage: python bench/ledger.py [--seconds 10] [--workers 32] [--wallets 10000] [--processes 2] [--pg URL] [--quick]
On PostgreSQL the 32 workers are split over 2 processes (as over replicas; pgbench runs 2 threads too).
The last line printed is one JSON object with the figures. Not a test: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants
from aistudio.db.engine import create_engine
from aistudio.db.migrate import upgrade_to_head
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_accounts, ledger_transfers, users

DEFAULT_PG = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
START_BALANCE = 10**12


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def seed_wallets(ledger: Ledger, count: int) -> list[int]:
    """Users with funded wallets, inserted in bulk (one credit transfer each, so the books balance)."""
    engine = ledger.engine
    await ledger.accounts.ensure_operator_accounts()
    source = await ledger.accounts.operator_id(Operator.TOPUPS_MANUAL)
    now = utcnow()
    ids = list(range(1, count + 1))
    async with engine.begin() as conn:
        for chunk in _chunks(ids, 2000):
            await conn.execute(
                sa.insert(users),
                [{"id": i, "language": "ru", "created_at": now, "last_seen_at": now} for i in chunk],
            )
            await conn.execute(
                sa.insert(ledger_accounts),
                [
                    {"code": f"wallet:{i}", "kind": "wallet", "user_id": i, "credits_posted": START_BALANCE,
                     "created_at": now}
                    for i in chunk
                ],
            )  # fmt: skip
        rows = await conn.execute(sa.select(ledger_accounts.c.id).where(ledger_accounts.c.kind == "wallet"))
        wallet_ids = [r[0] for r in rows]
        for chunk in _chunks(wallet_ids, 2000):
            await conn.execute(
                sa.insert(ledger_transfers),
                [
                    {"idempotency_key": f"seed:{w}", "kind": "credit", "debit_account_id": source,
                     "credit_account_id": w, "amount": START_BALANCE, "status": "posted", "created_at": now}
                    for w in chunk
                ],
            )  # fmt: skip
    return ids


async def run_pairs(ledger: Ledger, wallets: list[int], *, workers: int, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    counter = itertools.count()
    run = uuid.uuid4().hex[:6]
    done = 0

    async def worker(seed: int) -> None:
        nonlocal done
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            n = next(counter)
            user = rng.choice(wallets)
            await ledger.hold(f"b:{run}:{n}:hold", user, 100)
            await ledger.capture(f"b:{run}:{n}:capture", f"b:{run}:{n}:hold", 90)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return done / (time.perf_counter() - started)


async def _pairs_in_this_process(url: str, wallets: list[int], workers: int, seconds: float) -> float:
    engine = create_engine(url, pool_size=workers)
    try:
        return await run_pairs(Ledger(engine), wallets, workers=workers, seconds=seconds)
    finally:
        await engine.dispose()


def _child(url: str, wallets: list[int], workers: int, seconds: float) -> float:
    return asyncio.run(_pairs_in_this_process(url, wallets, workers, seconds))


def pairs_per_second(url: str, wallets: list[int], *, workers: int, seconds: float, processes: int) -> float:
    """`workers` concurrent workers split over `processes` processes (as over replicas); pairs/s summed."""
    if processes <= 1:
        return asyncio.run(_pairs_in_this_process(url, wallets, workers, seconds))
    per_process = workers // processes
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_child, url, wallets, per_process, seconds) for _ in range(processes)]
        return sum(f.result() for f in futures)


async def _seed(url: str, wallets: int) -> list[int]:
    engine = create_engine(url, pool_size=2)
    try:
        return await seed_wallets(Ledger(engine), wallets)
    finally:
        await engine.dispose()


async def _balanced(url: str) -> bool:
    engine = create_engine(url, pool_size=2)
    try:
        return (await check_invariants(engine)).ok
    finally:
        await engine.dispose()


def bench_database(url: str, *, wallets: int, workers: int, seconds: float, hot: bool, processes: int) -> dict:
    ids = asyncio.run(_seed(url, wallets))
    many = pairs_per_second(url, ids, workers=workers, seconds=seconds, processes=processes)
    result: dict[str, Any] = {"pairs_per_s": round(many, 1)}
    if hot:
        hot_rate = pairs_per_second(url, ids[:1], workers=workers, seconds=seconds, processes=processes)
        result["hot_pairs_per_s"] = round(hot_rate, 1)
    result["books_balanced"] = asyncio.run(_balanced(url))
    return result


def pg_admin(url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pgbench_tps(base_url: str, *, clients: int, seconds: int) -> float:
    """pgbench's built-in tpcb-like script on a scratch database of the same server."""
    name = f"aistudio_pgbench_{uuid.uuid4().hex[:8]}"
    pg_admin(base_url, f'CREATE DATABASE "{name}"')
    match = re.match(r"postgresql\+asyncpg://(?P<user>[^@/]+)@(?P<host>[^:/]+):?(?P<port>\d*)/", base_url)
    user, host, port = match["user"], match["host"], match["port"] or "5432"
    common = ["-h", host, "-p", port, "-U", user]
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", *common, name], check=True, capture_output=True)
        out = subprocess.run(
            ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), *common, name],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        pg_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(r"tps = ([\d.]+)", out)
    return float(tps.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a scratch database is created)")
    parser.add_argument("--processes", type=int, default=2, help="split the workers over this many processes (PG)")
    parser.add_argument("--quick", action="store_true", help="2-second runs, 1,000 wallets")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.wallets = 2.0, 1_000

    print(
        f"ledger bench: {args.workers} workers, {args.wallets} wallets, {args.seconds:.0f} s per run",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade_to_head(sqlite_url)
        # SQLite has one writer: one process (its writers queue in-process instead of sleeping on the lock).
        sqlite = bench_database(
            sqlite_url, wallets=args.wallets, workers=args.workers, seconds=args.seconds, hot=False, processes=1
        )
    print(f"sqlite: {sqlite}", flush=True)

    scratch = f"aistudio_bench_{uuid.uuid4().hex[:8]}"
    pg_admin(args.pg, f'CREATE DATABASE "{scratch}"')
    pg_url = args.pg.rsplit("/", 1)[0] + "/" + scratch
    try:
        upgrade_to_head(pg_url)
        pg = bench_database(
            pg_url, wallets=args.wallets, workers=args.workers, seconds=args.seconds, hot=True, processes=args.processes
        )
    finally:
        pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    print(f"postgresql: {pg}", flush=True)

    tps = pgbench_tps(args.pg, clients=args.workers, seconds=max(2, int(args.seconds)))
    print(f"pgbench tpcb-like: {tps:.1f} tps", flush=True)
    figures = {
        "sqlite_pairs_per_s": sqlite["pairs_per_s"],
        "pg_pairs_per_s": pg["pairs_per_s"],
        "pg_hot_wallet_pairs_per_s": pg["hot_pairs_per_s"],
        "pgbench_tps": round(tps, 1),
        "ratio": round(pg["pairs_per_s"] / tps, 3) if tps else None,
        "books_balanced": sqlite["books_balanced"] and pg["books_balanced"],
        "workers": args.workers,
        "pg_processes": args.processes,
        "wallets": args.wallets,
        "seconds": args.seconds,
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
