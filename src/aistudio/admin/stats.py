"""Dashboard figures for both admin panels: users, generations, revenue, Kie spend, margin, the free tier.

Definitions (days are UTC days; "today" starts at UTC midnight):
- revenue: the change of the REVENUE operator account's *posted* balance — captures of generation holds
  into it, minus every posted transfer out of it (a manual refund of a captured generation). Holds are
  pending and releases are voided, so neither counts. Top-ups are not revenue: they are users' money.
- Kie credits spent: `generations.credits` of generations Kie completed (states succeeded, downloaded,
  sending, completed); a failed task costs nothing on Kie. Their rouble cost is credits × USD_PER_CREDIT ×
  the generation's own exchange rate (`fx_rub_per_usd`, fixed at launch). Free generations count too.
- margin: revenue − Kie cost over the same days (revenue by capture time, cost by launch time).
- success rate: completed / (completed + failed) among generations launched in the period.

Closed days come from exact rollups (`aistudio.admin.stats_rollup`); the open day (today) is read live
through covering time-range indexes (`ix_generations_stats`, `ix_ledger_transfers_posted`); user counts
through `ix_users_created` and `ix_users_last_seen`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.admin.stats_rollup import (
    GenGroup,
    day_start,
    first_open_day,
    live_groups,
    live_revenue,
    refresh,
    rolled_up,
)
from aistudio.billing.accounts import Operator
from aistudio.config import Settings
from aistudio.db.tables import free_usage, ledger_accounts, users

KIE_DONE_STATES = ("succeeded", "downloaded", "sending", "completed")
U = users


@dataclass(frozen=True)
class Dashboard:
    users_total: int
    users_new_today: int
    users_new_7d: int
    users_active_today: int
    users_active_7d: int
    generations_today: int
    succeeded_today: int
    failed_today: int
    revenue_today_kopecks: int
    revenue_7d_kopecks: int
    revenue_30d_kopecks: int
    kie_credits_today: Decimal
    kie_cost_today_kopecks: int
    kie_credits_30d: Decimal
    kie_cost_30d_kopecks: int
    free_spent_today: Decimal  # Kie credits free generations reserved or used today
    free_cap: Decimal

    @property
    def success_rate_today(self) -> float | None:
        finished = self.succeeded_today + self.failed_today
        return self.succeeded_today / finished if finished else None

    @property
    def margin_today_kopecks(self) -> int:
        return self.revenue_today_kopecks - self.kie_cost_today_kopecks

    @property
    def margin_30d_kopecks(self) -> int:
        return self.revenue_30d_kopecks - self.kie_cost_30d_kopecks


@dataclass
class DayPoint:
    day: date
    revenue_kopecks: int = 0
    by_state: dict[str, int] = field(default_factory=dict)  # completed | failed | active
    kie_credits: Decimal = Decimal(0)
    kie_cost_kopecks: int = 0

    @property
    def generations(self) -> int:
        return sum(self.by_state.values())

    @property
    def margin_kopecks(self) -> int:
        return self.revenue_kopecks - self.kie_cost_kopecks


@dataclass(frozen=True)
class ModelStat:
    model_id: str
    total: int
    succeeded: int
    failed: int
    kie_credits: Decimal

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


def midnight(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def kopecks_of(credits: Decimal, fx: Decimal, usd_per_credit: Decimal) -> Decimal:
    return credits * usd_per_credit * fx * 100


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def revenue_account_id(conn: AsyncConnection) -> int | None:
    query = sa.select(ledger_accounts.c.id).where(ledger_accounts.c.code == Operator.REVENUE.value)
    return (await conn.execute(query)).scalar_one_or_none()


async def window(engine: AsyncEngine, first_day: date, now: datetime) -> tuple[list[GenGroup], dict[date, int]]:
    """Generation groups and revenue per day from `first_day` to today: closed days rolled up, the rest live."""
    open_day = first_open_day(now)
    today = now.astimezone(UTC).date()
    async with engine.connect() as conn:
        revenue_id = await revenue_account_id(conn)
    closed = [first_day + timedelta(days=i) for i in range((open_day - first_day).days)]
    await refresh(engine, closed, revenue_id, now)
    async with engine.connect() as conn:
        groups, revenue = await rolled_up(conn, first_day, open_day - timedelta(days=1)) if closed else ([], {})
        since, until = day_start(max(first_day, open_day)), day_start(today) + timedelta(days=1)
        groups = groups + await live_groups(conn, since, until)
        revenue.update(await live_revenue(conn, revenue_id, since, until))
    return groups, revenue


def _kie(groups: Iterable[GenGroup], usd_per_credit: Decimal) -> tuple[Decimal, int]:
    done = [g for g in groups if g.state in KIE_DONE_STATES]
    credits = sum((g.credits for g in done), Decimal(0))
    return credits, _round(sum((kopecks_of(g.credits, g.fx, usd_per_credit) for g in done), Decimal(0)))


async def user_counts(conn: AsyncConnection, now: datetime) -> tuple[int, int, int, int, int]:
    """(total, new today, new 7d, active today, active 7d): one round trip, each count over an index."""
    today, week = midnight(now), midnight(now) - timedelta(days=6)

    def count(where: Any) -> Any:
        return sa.select(sa.func.count()).select_from(U).where(where).scalar_subquery()

    query = sa.select(
        sa.select(sa.func.count()).select_from(U).scalar_subquery(),
        count(U.c.created_at >= today),
        count(U.c.created_at >= week),
        count(U.c.last_seen_at >= today),
        count(U.c.last_seen_at >= week),
    )
    row = (await conn.execute(query)).one()
    return tuple(int(v) for v in row)  # type: ignore[return-value]


async def free_spent_since(conn: AsyncConnection, since: datetime) -> Decimal:
    query = sa.select(sa.func.coalesce(sa.func.sum(free_usage.c.credits), 0)).where(
        free_usage.c.created_at >= since, free_usage.c.status != "returned"
    )
    return Decimal(str((await conn.execute(query)).scalar_one()))


async def dashboard(engine: AsyncEngine, *, now: datetime, settings: Settings) -> Dashboard:
    """Every headline figure at `now` (USD_PER_CREDIT and FREE_DAILY_CREDIT_CAP come from `settings`)."""
    return (await overview(engine, now=now, settings=settings, days=30))[0]


async def overview(
    engine: AsyncEngine, *, now: datetime, settings: Settings, days: int = 30, top: int = 10
) -> tuple[Dashboard, list[DayPoint], list[ModelStat]]:
    """The headline figures, the per-day series and the top models of the last `days` (≥ 30) days, from one
    read of the rollups: what a dashboard page shows."""
    usd = settings.usd_per_credit
    today = midnight(now).date()
    groups, revenue = await window(engine, today - timedelta(days=max(days, 30) - 1), now)
    async with engine.connect() as conn:
        users_row = await user_counts(conn, now)
        free_spent = await free_spent_since(conn, midnight(now))
    todays = [g for g in groups if g.day == today]
    launched = sum(g.launched for g in todays)
    completed = sum(g.launched for g in todays if g.state == "completed")
    failed = sum(g.launched for g in todays if g.state == "failed")
    month = [g for g in groups if (today - g.day).days < 30]
    credits_today, cost_today = _kie(todays, usd)
    credits_30d, cost_30d = _kie(month, usd)

    def revenue_over(n: int) -> int:
        return sum(v for d, v in revenue.items() if (today - d).days < n)

    figures = Dashboard(
        *users_row, launched, completed, failed, revenue_over(1), revenue_over(7), revenue_over(30),
        credits_today, cost_today, credits_30d, cost_30d, free_spent, settings.free_daily_credit_cap,
    )  # fmt: skip
    recent = [g for g in groups if (today - g.day).days < days]
    return figures, series_from(recent, revenue, days, now, usd), rank_models(_model_rows(recent), top)


def _model_rows(groups: Iterable[GenGroup]) -> Iterable[tuple[str, str, int, Decimal]]:
    return ((g.model_id, g.state, g.launched, g.credits) for g in groups)


def _days(now: datetime, days: int) -> list[date]:
    last = midnight(now).date()
    return [last - timedelta(days=i) for i in range(days - 1, -1, -1)]


async def daily_series(engine: AsyncEngine, *, days: int, now: datetime, settings: Settings) -> list[DayPoint]:
    """One point per UTC day for the last `days` days (oldest first, today last; empty days are zeros)."""
    groups, revenue = await window(engine, midnight(now).date() - timedelta(days=days - 1), now)
    return series_from(groups, revenue, days, now, settings.usd_per_credit)


def series_from(
    groups: Iterable[GenGroup], revenue: dict[date, int], days: int, now: datetime, usd_per_credit: Decimal
) -> list[DayPoint]:
    points = {d: DayPoint(d) for d in _days(now, days)}
    costs: dict[date, Decimal] = {}
    for g in groups:
        point = points.get(g.day)
        if point is None:
            continue
        bucket = g.state if g.state in ("completed", "failed") else "active"
        point.by_state[bucket] = point.by_state.get(bucket, 0) + g.launched
        if g.state in KIE_DONE_STATES:
            point.kie_credits += g.credits
            costs[g.day] = costs.get(g.day, Decimal(0)) + kopecks_of(g.credits, g.fx, usd_per_credit)
    for d, cost in costs.items():
        points[d].kie_cost_kopecks = _round(cost)
    for d, amount in revenue.items():
        if d in points:
            points[d].revenue_kopecks = amount
    return list(points.values())


async def top_models(engine: AsyncEngine, *, days: int, now: datetime, limit: int = 10) -> list[ModelStat]:
    """The most launched models over the last `days` days, with their success and Kie spend."""
    groups, _ = await window(engine, midnight(now).date() - timedelta(days=days - 1), now)
    return rank_models(_model_rows(groups), limit)


def rank_models(rows: Iterable[Any], limit: int) -> list[ModelStat]:
    totals: dict[str, list[Any]] = {}
    for model_id, state, n, spent in rows:
        entry = totals.setdefault(model_id, [0, 0, 0, Decimal(0)])
        entry[0] += n
        entry[1] += n if state == "completed" else 0
        entry[2] += n if state == "failed" else 0
        if state in KIE_DONE_STATES:
            entry[3] += Decimal(str(spent))
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [ModelStat(model_id, *values) for model_id, values in ranked]


async def warm_rollups(engine: AsyncEngine, *, days: int = 90, now: datetime | None = None) -> None:
    """Keep the closed days' rollups fresh in the background, so no page view pays for building them
    (the first build over a million generations takes seconds; a refresh of unchanged days is one read)."""
    now = now or datetime.now(UTC)
    open_day = first_open_day(now)
    first = open_day - timedelta(days=days)
    async with engine.connect() as conn:
        revenue_id = await revenue_account_id(conn)
    await refresh(engine, [first + timedelta(days=i) for i in range(days)], revenue_id, now)
