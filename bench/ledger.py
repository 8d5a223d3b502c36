"""Ledger throughput: hold+capture pairs per second on SQLite and PostgreSQL, next to pgbench's TPS.

Usage: python bench/ledger.py [--seconds 10] [--workers 32] [--wallets 10000] [--pg URL] [--quick]
The last line printed is one JSON object with the figures. Not a test: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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


async def bench_database(url: str, *, wallets: int, workers: int, seconds: float, hot: bool) -> dict:
    engine = create_engine(url, pool_size=workers)
    try:
        ledger = Ledger(engine)
        ids = await seed_wallets(ledger, wallets)
        many = await run_pairs(ledger, ids, workers=workers, seconds=seconds)
        result = {"pairs_per_s": round(many, 1)}
        if hot:
            result["hot_pairs_per_s"] = round(await run_pairs(ledger, ids[:1], workers=workers, seconds=seconds), 1)
        report = await check_invariants(engine)
        result["books_balanced"] = report.ok
        return result
    finally:
        await engine.dispose()


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
        sqlite = asyncio.run(
            bench_database(sqlite_url, wallets=args.wallets, workers=args.workers, seconds=args.seconds, hot=False)
        )
    print(f"sqlite: {sqlite}", flush=True)

    scratch = f"aistudio_bench_{uuid.uuid4().hex[:8]}"
    pg_admin(args.pg, f'CREATE DATABASE "{scratch}"')
    pg_url = args.pg.rsplit("/", 1)[0] + "/" + scratch
    try:
        upgrade_to_head(pg_url)
        pg = asyncio.run(
            bench_database(pg_url, wallets=args.wallets, workers=args.workers, seconds=args.seconds, hot=True)
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
        "wallets": args.wallets,
        "seconds": args.seconds,
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
