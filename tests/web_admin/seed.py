"""A small dataset whose dashboard figures are known exactly (see test_stats.py for the arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.tables import free_usage, generations, users

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


async def add_user(engine: AsyncEngine, user_id: int, *, created: datetime, seen: datetime, **extra: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(users).values(id=user_id, created_at=created, last_seen_at=seen, language="ru", **extra)
        )


async def add_generation(
    engine: AsyncEngine, rq: str, *, user_id: int, model: str, state: str, credits: str, fx: str, at: datetime,
    charged: int = 0, error_class: str | None = None,
) -> None:  # fmt: skip
    async with engine.begin() as conn:
        values = {
            "request_id": rq, "user_id": user_id, "model_id": model, "family": "market", "inputs": {}, "state": state,
            "credits": Decimal(credits), "price_kopecks": charged, "fx_rub_per_usd": Decimal(fx),
            "markup": Decimal(2), "charged_kopecks": charged, "error_class": error_class, "created_at": at,
            "updated_at": at,
        }  # fmt: skip
        await conn.execute(sa.insert(generations).values(**values))


async def seed_known_figures(engine: AsyncEngine) -> None:
    await add_user(engine, 1, created=ago(40), seen=ago(hours=1), username="alice", first_name="Alice")
    await add_user(engine, 2, created=ago(hours=11), seen=ago(hours=2), first_name="Bob")
    await add_user(engine, 3, created=ago(3), seen=ago(3), first_name="Carol")
    await add_user(engine, 4, created=ago(10), seen=ago(10), first_name="Dan")

    await add_generation(engine, "RQ-AAAAAAA1", user_id=1, model="m/a", state="completed", credits="10", fx="100",
                         at=ago(hours=3), charged=1000)  # fmt: skip
    await add_generation(engine, "RQ-AAAAAAA2", user_id=1, model="m/a", state="failed", credits="20", fx="100",
                         at=ago(hours=3), error_class="generation_failed")  # fmt: skip
    await add_generation(engine, "RQ-AAAAAAA3", user_id=2, model="m/b", state="submitted", credits="4", fx="100",
                         at=ago(hours=2))  # fmt: skip
    await add_generation(engine, "RQ-AAAAAAA4", user_id=2, model="m/b", state="succeeded", credits="6", fx="90",
                         at=ago(hours=1))  # fmt: skip
    await add_generation(engine, "RQ-AAAAAAA5", user_id=3, model="m/a", state="completed", credits="8", fx="95",
                         at=ago(2), charged=380)  # fmt: skip
    await add_generation(engine, "RQ-AAAAAAA6", user_id=4, model="m/c", state="completed", credits="100", fx="95",
                         at=ago(40), charged=9000)  # fmt: skip

    when = [NOW]
    ledger = Ledger(engine, clock=lambda: when[0])
    await ledger.accounts.ensure_operator_accounts()
    await ledger.accounts.open_wallet(1)
    await ledger.credit("topup:1", 1, 10_000, Operator.TOPUPS_STARS)  # users' money, not revenue

    async def charge(key: str, amount: int, at: datetime, *, outcome: str) -> None:
        when[0] = at
        await ledger.hold(f"{key}:hold", 1, amount)
        if outcome == "capture":
            await ledger.capture(f"{key}:capture", f"{key}:hold")
        elif outcome == "release":
            await ledger.release(f"{key}:release", f"{key}:hold")

    await charge("h1", 1000, ago(hours=3), outcome="capture")
    await charge("h2", 500, ago(5), outcome="capture")
    await charge("h3", 300, ago(hours=1), outcome="release")
    await charge("h4", 2000, ago(20), outcome="capture")
    await charge("h5", 700, ago(hours=1), outcome="pending")
    await charge("h6", 900, ago(40), outcome="capture")
    when[0] = ago(hours=1)
    await ledger.credit("refund:generation:1", 1, 200, Operator.REVENUE, reason="manual refund")

    async with engine.begin() as conn:
        for key, credits, status in (("f1", "5", "used"), ("f2", "3", "returned")):
            use = {"user_id": 2, "model_id": "m/free", "generation_key": key, "credits": Decimal(credits)}
            await conn.execute(sa.insert(free_usage).values(**use, status=status, created_at=ago(hours=1)))
