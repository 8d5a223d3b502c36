"""Seed a PostgreSQL database with an admin dashboard's worth of history: users, generations, money.

Usage: python bench/admin_seed.py [--users 100000] [--generations 1000000] [--days 90] [--pg URL] [--keep]
Creates a scratch database on the server, migrates it, fills it with INSERT … SELECT generate_series (all
on the server, no rows cross the wire), VACUUM ANALYZEs it, prints its URL and row counts, and drops it
unless --keep. `bench/dashboard.py` uses `seed()` to time the dashboard queries against it.

The data: users joined over `days` days, ~1/3 of them seen in the last week; generations spread evenly
over `days` days on 45 models (skewed: a few models take most launches), 80% completed, 15% failed, 5%
still running, 4% free; every paid generation has its ledger hold, plus a capture (completed) or a release
(failed); one top-up per ten generations (payments row + ledger credit), and a manual refund out of the
revenue account per thousand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from aistudio.billing.accounts import Operator
from aistudio.catalog.loader import load_catalog
from aistudio.db.migrate import upgrade_to_head

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
FIRST_USER = 1_000_001


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def pg_admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_scratch(server_url: str) -> str:
    name = f"aistudio_admin_{uuid.uuid4().hex[:8]}"
    await pg_admin(server_url, f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + "/" + name
    await asyncio.to_thread(upgrade_to_head, url)
    return url


async def drop_scratch(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _model_ids() -> list[str]:
    return [m.id for m in load_catalog().visible()][:45]


async def seed(url: str, *, users: int, generations: int, days: int, now: datetime) -> dict[str, float]:
    """Fill the (migrated, empty) database; returns seconds per step."""
    conn = await asyncpg.connect(plain(url))
    timings: dict[str, float] = {}
    span_s = days * 86400
    params = {"now": now, "span": span_s}

    async def step(name: str, sql: str, *args: object) -> None:
        started = time.perf_counter()
        await conn.execute(sql, *args)
        timings[name] = round(time.perf_counter() - started, 2)

    try:
        await step(
            "users",
            """INSERT INTO users (id, username, first_name, language, created_at, last_seen_at)
            SELECT $1::bigint + i, 'user' || i, 'Name ' || i, CASE WHEN i % 5 = 0 THEN 'en' ELSE 'ru' END,
                   $2::timestamptz - make_interval(secs => (i::bigint * 7919) % $3::bigint),
                   $2::timestamptz - make_interval(
                       secs => ((i::bigint * 104729) % ((i::bigint * 7919) % $3::bigint + 1))
                               / CASE WHEN i % 3 = 0 THEN 1 ELSE 40 END)
            FROM generate_series(0, $4::int - 1) AS i""",
            FIRST_USER, params["now"], span_s, users,
        )  # fmt: skip
        for code in Operator:
            await conn.execute(
                "INSERT INTO ledger_accounts (code, kind, created_at) VALUES ($1, 'operator', $2)", code.value, now
            )
        await step(
            "wallets",
            "INSERT INTO ledger_accounts (code, kind, user_id, created_at) "
            "SELECT 'wallet:' || id, 'wallet', id, created_at FROM users",
        )
        models = _model_ids()
        await step(
            "generations",
            """INSERT INTO generations (request_id, user_id, model_id, family, inputs, state, is_free, credits,
                   price_kopecks, fx_rub_per_usd, markup, hold_key, error_class, charged_kopecks,
                   created_at, updated_at, completed_at)
            SELECT 'RQ-' || upper(lpad(to_hex(g), 8, '0')), $1::bigint + (g::bigint * 7) % $2::int,
                   ($3::text[])[1 + ((g % 1000) * (g % 1000)) / 22200], 'market', '{}'::json,
                   s.state, g % 25 = 0, c.credits,
                   CASE WHEN g % 25 = 0 THEN 0 ELSE ceil(c.credits * 0.005 * c.fx * 2 * 100) END, c.fx, 2,
                   CASE WHEN g % 25 = 0 THEN NULL ELSE 'gen:' || g || ':hold' END,
                   CASE WHEN s.state = 'failed' THEN 'generation_failed' END,
                   CASE WHEN s.state = 'completed' AND g % 25 <> 0 THEN ceil(c.credits * 0.005 * c.fx * 2 * 100)
                        ELSE 0 END,
                   t.at, t.at + interval '1 minute', CASE WHEN s.state IN ('completed', 'failed')
                   THEN t.at + interval '1 minute' END
            FROM generate_series(1, $4::int) AS g
            CROSS JOIN LATERAL (SELECT $5::timestamptz - make_interval(secs => $6::float8 * ($4::int - g) / $4::int)
                                AS at) t
            CROSS JOIN LATERAL (SELECT CASE WHEN g % 20 < 16 THEN 'completed' WHEN g % 20 < 19 THEN 'failed'
                                       ELSE 'submitted' END AS state) s
            CROSS JOIN LATERAL (SELECT ((g % 50) + 1) * 2.0 AS credits,
                                       90 + (extract(doy FROM t.at)::int % 10) AS fx) c""",
            FIRST_USER, users, models, generations, now, float(span_s),
        )  # fmt: skip
        revenue = await conn.fetchval("SELECT id FROM ledger_accounts WHERE code = $1", Operator.REVENUE.value)
        stars = await conn.fetchval("SELECT id FROM ledger_accounts WHERE code = $1", Operator.TOPUPS_STARS.value)
        await step(
            "holds",
            """INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount,
                   status, expires_at, created_at)
            SELECT g.hold_key, 'hold', a.id, $1::bigint, g.price_kopecks,
                   CASE g.state WHEN 'completed' THEN 'captured' WHEN 'failed' THEN 'released' ELSE 'pending' END,
                   g.created_at + interval '3 hours', g.created_at
            FROM generations g JOIN ledger_accounts a ON a.user_id = g.user_id
            WHERE NOT g.is_free ORDER BY g.id""",
            revenue,
        )
        await step(
            "resolutions",
            """INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount,
                   status, pending_id, created_at)
            SELECT replace(h.idempotency_key, ':hold',
                           CASE h.status WHEN 'captured' THEN ':capture' ELSE ':release' END),
                   CASE h.status WHEN 'captured' THEN 'capture' ELSE 'release' END, h.debit_account_id,
                   h.credit_account_id, h.amount, CASE h.status WHEN 'captured' THEN 'posted' ELSE 'voided' END,
                   h.id, h.created_at + interval '1 minute'
            FROM ledger_transfers h WHERE h.kind = 'hold' AND h.status <> 'pending' ORDER BY h.id""",
        )
        topups = generations // 10
        await step(
            "payments",
            """INSERT INTO payments (user_id, provider, external_id, status, amount_kopecks, currency,
                   provider_amount, created_at, updated_at, settled_at)
            SELECT $1::bigint + (p::bigint * 13) % $2::int, CASE WHEN p % 3 = 0 THEN 'yookassa' ELSE 'stars' END,
                   'charge-' || p, 'credited', (1 + p % 10) * 10000, CASE WHEN p % 3 = 0 THEN 'RUB' ELSE 'XTR' END,
                   (1 + p % 10) * 77, t.at, t.at, t.at
            FROM generate_series(1, $3::int) AS p
            CROSS JOIN LATERAL (SELECT $4::timestamptz - make_interval(secs => $5::float8 * ($3::int - p) / $3::int)
                                AS at) t""",
            FIRST_USER, users, topups, now, float(span_s),
        )  # fmt: skip
        await step(
            "topup_credits",
            """INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount,
                   status, created_at)
            SELECT 'topup:' || p.id, 'credit', $1::bigint, a.id, p.amount_kopecks, 'posted', p.created_at
            FROM payments p JOIN ledger_accounts a ON a.user_id = p.user_id ORDER BY p.id""",
            stars,
        )
        await step(
            "refunds",
            """INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount,
                   status, reason, created_at)
            SELECT replace(c.idempotency_key, ':capture', ':refund'), 'credit', c.credit_account_id,
                   c.debit_account_id, c.amount, 'posted', 'manual refund', c.created_at + interval '1 hour'
            FROM ledger_transfers c WHERE c.kind = 'capture' AND c.id % 1000 = 0""",
        )
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = round(time.perf_counter() - started, 2)
    finally:
        await conn.close()
    return timings


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(plain(url))
    try:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("users", "generations", "ledger_transfers", "payments")
        }
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    url = await create_scratch(args.pg)
    try:
        timings = await seed(url, users=args.users, generations=args.generations, days=args.days, now=datetime.now(UTC))
        print(json.dumps({"database": url, "seconds": timings, "rows": await counts(url)}), flush=True)
    finally:
        if not args.keep:
            await drop_scratch(args.pg, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a scratch database is created)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its URL is printed)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
