"""The FREE tier: derived deterministically; per-user hourly and daily limits; a global daily cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.catalog.models import Category, Localized, ModelSpec, PricingRule
from aistudio.db.rawsql import RawDb
from aistudio.pricing.free_tier import FreeLimits, FreeRefusal, FreeTier, derive_free_models
from tests.support import make_user

L = Localized(ru="x", en="x")
NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def spec(model_id: str, credits: str, *, enabled: bool = True, hidden: bool = False) -> ModelSpec:
    return ModelSpec(
        id=model_id, category=Category.TEXT_TO_IMAGE, name=L, description=L, output="image", inputs=[],
        pricing=PricingRule(base=Decimal(credits)), enabled=enabled, hidden=hidden,
        disabled_reason=None if enabled else "off",
    )  # fmt: skip


def test_free_models_are_the_cheapest_enabled_with_ties_by_id() -> None:
    models = [
        spec("b", "1"), spec("a", "1"), spec("c", "0.5"), spec("off", "0.1", enabled=False),
        spec("helper", "0.1", hidden=True), spec("d", "4"), spec("e", "9"),
    ]  # fmt: skip

    chosen = derive_free_models(reversed(models), 3)

    assert [m.id for m in chosen] == ["c", "a", "b"]
    assert [m.id for m in derive_free_models(models, 3)] == ["c", "a", "b"]


def tier(cap: str = "1000") -> FreeTier:
    return FreeTier(FreeLimits(per_model_per_day=5, per_model_per_hour=2, daily_credit_cap=Decimal(cap)))


async def test_hourly_limit_then_daily_limit(engine: AsyncEngine) -> None:
    user = await make_user(engine, Ledger(engine), 1)
    free = tier()
    decisions = []
    async with RawDb(engine).transaction() as conn:
        for i, minutes in enumerate([0, 10, 20, 70, 130, 190, 250, 300]):
            decisions.append(
                await free.reserve(
                    conn, user, "z-image", Decimal("0.8"), f"g{i}", now=NOON + timedelta(minutes=minutes)
                )
            )

    refusals = [d.refusal for d in decisions]
    assert refusals == [
        None,
        None,
        FreeRefusal.HOURLY,
        None,
        None,
        None,
        FreeRefusal.DAILY,
        FreeRefusal.DAILY,
    ]
    assert decisions[2].retry_at == NOON + timedelta(hours=1)


async def test_failed_generation_gives_the_use_back(engine: AsyncEngine) -> None:
    user = await make_user(engine, Ledger(engine), 1)
    free = tier()
    async with RawDb(engine).transaction() as conn:
        await free.reserve(conn, user, "z-image", Decimal("0.8"), "g1", now=NOON)
        await free.reserve(conn, user, "z-image", Decimal("0.8"), "g2", now=NOON)
        await free.settle(conn, "g2", succeeded=False)

        third = await free.reserve(conn, user, "z-image", Decimal("0.8"), "g3", now=NOON + timedelta(minutes=1))

    assert third.allowed and third.used_this_hour == 2


async def test_global_daily_cap_stops_free_generations_for_everyone(engine: AsyncEngine) -> None:
    ledger = Ledger(engine)
    users = [await make_user(engine, ledger, uid) for uid in (1, 2, 3)]
    free = tier(cap="10")
    async with RawDb(engine).transaction() as conn:
        results = [await free.reserve(conn, u, "nano", Decimal("4"), f"g{u}", now=NOON) for u in users]

        spent = await free.spent_today(conn, now=NOON)

    assert [r.refusal for r in results] == [None, None, FreeRefusal.GLOBAL_CAP]
    assert spent == Decimal("8")
