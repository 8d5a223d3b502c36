"""Dashboard figures on a small dataset whose every number is worked out by hand (see seed.py).

Revenue: captures today 1000 − refund today 200 = 800; + capture 5 days ago 500 → 7 days 1300; + capture
20 days ago 2000 → 30 days 3300 (the 40-day-old capture, the release and the open hold do not count).
Kie cost today: 10 credits × $0.005 × 100 ₽ = 5.00 ₽ (completed) + 6 × 0.005 × 90 = 2.70 ₽ (succeeded,
not yet delivered) = 770 kopecks; the failed and the running one cost nothing. 30 days: + 8 × 0.005 × 95 =
3.80 ₽ → 1150.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin import stats
from aistudio.billing.queries import check_invariants
from aistudio.config import load_settings
from aistudio.db.tables import generations, stats_days
from tests.web_admin.seed import NOW, seed_known_figures

SETTINGS = load_settings(usd_per_credit=Decimal("0.005"), free_daily_credit_cap=Decimal(2000))


async def test_dashboard_figures_are_exact(engine: AsyncEngine) -> None:
    await seed_known_figures(engine)

    d = await stats.dashboard(engine, now=NOW, settings=SETTINGS)

    assert (d.users_total, d.users_new_today, d.users_new_7d, d.users_active_today, d.users_active_7d) == (
        4, 1, 2, 2, 3,
    )  # fmt: skip
    assert (d.generations_today, d.succeeded_today, d.failed_today) == (4, 1, 1)
    assert d.success_rate_today == 0.5
    assert (d.revenue_today_kopecks, d.revenue_7d_kopecks, d.revenue_30d_kopecks) == (800, 1300, 3300)
    assert (d.kie_credits_today, d.kie_cost_today_kopecks) == (Decimal(16), 770)
    assert (d.kie_credits_30d, d.kie_cost_30d_kopecks) == (Decimal(24), 1150)
    assert (d.margin_today_kopecks, d.margin_30d_kopecks) == (30, 2150)
    assert (d.free_spent_today, d.free_cap) == (Decimal(5), Decimal(2000))
    assert (await check_invariants(engine)).ok


async def test_daily_series_puts_each_figure_on_its_day(engine: AsyncEngine) -> None:
    await seed_known_figures(engine)

    days = await stats.daily_series(engine, days=7, now=NOW, settings=SETTINGS)

    assert [p.day for p in days] == [(NOW - timedelta(days=i)).date() for i in range(6, -1, -1)]
    by_day = {(NOW.date() - p.day).days: p for p in days}
    today, two_ago, five_ago = by_day[0], by_day[2], by_day[5]
    assert today.by_state == {"completed": 1, "failed": 1, "active": 2}
    assert (today.revenue_kopecks, today.kie_credits, today.kie_cost_kopecks, today.margin_kopecks) == (
        800, Decimal(16), 770, 30,
    )  # fmt: skip
    assert (two_ago.by_state, two_ago.kie_cost_kopecks, two_ago.revenue_kopecks) == ({"completed": 1}, 380, 0)
    assert (five_ago.revenue_kopecks, five_ago.generations, five_ago.margin_kopecks) == (500, 0, 500)
    assert sum(p.generations for p in days) == 5  # the 40-day-old one is outside


async def test_top_models_rank_by_launches_in_the_window(engine: AsyncEngine) -> None:
    await seed_known_figures(engine)

    top = await stats.top_models(engine, days=30, now=NOW)

    assert [(m.model_id, m.total, m.succeeded, m.failed, m.kie_credits) for m in top] == [
        ("m/a", 3, 2, 1, Decimal(18)),
        ("m/b", 2, 0, 0, Decimal(6)),
    ]
    assert top[0].success_rate == 2 / 3 and top[1].success_rate is None


async def test_an_empty_database_gives_zeros(engine: AsyncEngine) -> None:
    d = await stats.dashboard(engine, now=NOW, settings=SETTINGS)
    days = await stats.daily_series(engine, days=3, now=NOW, settings=SETTINGS)

    assert (d.users_total, d.generations_today, d.revenue_30d_kopecks, d.success_rate_today) == (0, 0, 0, None)
    assert [(p.generations, p.revenue_kopecks) for p in days] == [(0, 0)] * 3
    assert await stats.top_models(engine, days=30, now=NOW) == []


async def test_a_change_to_a_rolled_up_day_is_seen_on_the_next_view(engine: AsyncEngine) -> None:
    await seed_known_figures(engine)
    before = await stats.daily_series(engine, days=7, now=NOW, settings=SETTINGS)  # rolls the closed days up
    assert before[-3].by_state == {"completed": 1}

    async with engine.begin() as conn:  # then a generation of two days ago changes state
        await conn.execute(
            sa.update(generations)
            .where(generations.c.request_id == "RQ-AAAAAAA5")
            .values(state="failed", updated_at=NOW + timedelta(minutes=1))
        )
    after = await stats.daily_series(engine, days=7, now=NOW + timedelta(minutes=2), settings=SETTINGS)

    assert (after[-3].by_state, after[-3].kie_cost_kopecks) == ({"failed": 1}, 0)
    assert [p.revenue_kopecks for p in after] == [p.revenue_kopecks for p in before]
    async with engine.connect() as conn:
        rolled = (await conn.execute(sa.select(sa.func.count()).select_from(stats_days))).scalar_one()
    assert rolled == 6  # the six closed days of the window; today stays live


async def test_the_background_warm_up_rolls_closed_days_up_so_views_find_them_ready(engine: AsyncEngine) -> None:
    await seed_known_figures(engine)
    cold = await stats.daily_series(engine, days=30, now=NOW, settings=SETTINGS)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(stats_days))

    await stats.warm_rollups(engine, days=30, now=NOW)
    async with engine.connect() as conn:
        rolled = (await conn.execute(sa.select(sa.func.count()).select_from(stats_days))).scalar_one()
    warm = await stats.daily_series(engine, days=30, now=NOW, settings=SETTINGS)

    assert rolled == 30  # every closed day of the window, before anyone looks
    assert warm == cold
