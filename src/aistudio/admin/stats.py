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

Every query reads a time range through an index (`ix_users_created`, `ix_users_last_seen`,
`ix_generations_stats`, `ix_ledger_transfers_posted`; the last two cover their columns so PostgreSQL
answers from the index alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.config import Settings
from aistudio.db.tables import free_usage, generations, ledger_accounts, ledger_transfers, users

KIE_DONE_STATES = ("succeeded", "downloaded", "sending", "completed")
G, T, U = generations, ledger_transfers, users


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


def _day(conn: AsyncConnection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _revenue_signed(revenue_id: int) -> Any:
    return sa.case((T.c.credit_account_id == revenue_id, T.c.amount), else_=-T.c.amount)


def _revenue_filter(revenue_id: int, since: datetime, until: datetime) -> Any:
    return sa.and_(
        T.c.status == "posted",
        T.c.created_at >= since,
        T.c.created_at < until,
        sa.or_(T.c.credit_account_id == revenue_id, T.c.debit_account_id == revenue_id),
    )


async def revenue_between(conn: AsyncConnection, since: datetime, until: datetime) -> int:
    """Revenue in kopecks over [since, until) (see the module's definition)."""
    revenue_id = await revenue_account_id(conn)
    if revenue_id is None:
        return 0
    query = sa.select(sa.func.coalesce(sa.func.sum(_revenue_signed(revenue_id)), 0)).where(
        _revenue_filter(revenue_id, since, until)
    )
    return int((await conn.execute(query)).scalar_one())


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


async def generation_totals(
    conn: AsyncConnection, since: datetime, until: datetime, usd_per_credit: Decimal
) -> tuple[int, int, int, Decimal, int]:
    """(launched, completed, failed, Kie credits, Kie cost in kopecks) of generations launched in the range."""
    query = (
        sa.select(G.c.state, G.c.fx_rub_per_usd, sa.func.count(), sa.func.coalesce(sa.func.sum(G.c.credits), 0))
        .where(G.c.created_at >= since, G.c.created_at < until)
        .group_by(G.c.state, G.c.fx_rub_per_usd)
    )
    launched = completed = failed = 0
    credits, cost = Decimal(0), Decimal(0)
    for state, fx, n, spent in await conn.execute(query):
        launched += n
        completed += n if state == "completed" else 0
        failed += n if state == "failed" else 0
        if state in KIE_DONE_STATES:
            credits += Decimal(str(spent))
            cost += kopecks_of(Decimal(str(spent)), Decimal(str(fx)), usd_per_credit)
    return launched, completed, failed, credits, _round(cost)


async def free_spent_since(conn: AsyncConnection, since: datetime) -> Decimal:
    query = sa.select(sa.func.coalesce(sa.func.sum(free_usage.c.credits), 0)).where(
        free_usage.c.created_at >= since, free_usage.c.status != "returned"
    )
    return Decimal(str((await conn.execute(query)).scalar_one()))


async def dashboard(engine: AsyncEngine, *, now: datetime, settings: Settings) -> Dashboard:
    """Every headline figure at `now` (USD_PER_CREDIT and FREE_DAILY_CREDIT_CAP come from `settings`)."""
    usd_per_credit = settings.usd_per_credit
    today = midnight(now)
    end = today + timedelta(days=1)
    async with engine.connect() as conn:
        users_row = await user_counts(conn, now)
        launched, completed, failed, credits_today, cost_today = await generation_totals(
            conn, today, end, usd_per_credit
        )
        _, _, _, credits_30d, cost_30d = await generation_totals(conn, today - timedelta(days=29), end, usd_per_credit)
        revenue = [await revenue_between(conn, today - timedelta(days=d - 1), end) for d in (1, 7, 30)]
        free_spent = await free_spent_since(conn, today)
    return Dashboard(
        *users_row, launched, completed, failed, *revenue, credits_today, cost_today, credits_30d, cost_30d,
        free_spent, settings.free_daily_credit_cap,
    )  # fmt: skip


def _days(now: datetime, days: int) -> list[date]:
    last = midnight(now).date()
    return [last - timedelta(days=i) for i in range(days - 1, -1, -1)]


async def daily_series(engine: AsyncEngine, *, days: int, now: datetime, settings: Settings) -> list[DayPoint]:
    """One point per UTC day for the last `days` days (oldest first, today last; empty days are zeros)."""
    usd_per_credit = settings.usd_per_credit
    points = {d: DayPoint(d) for d in _days(now, days)}
    since = midnight(now) - timedelta(days=days - 1)
    until = midnight(now) + timedelta(days=1)
    async with engine.connect() as conn:
        day = _day(conn, G.c.created_at)
        gens = (
            sa.select(
                day, G.c.state, G.c.fx_rub_per_usd, sa.func.count(), sa.func.coalesce(sa.func.sum(G.c.credits), 0)
            )
            .where(G.c.created_at >= since, G.c.created_at < until)
            .group_by(day, G.c.state, G.c.fx_rub_per_usd)
        )
        costs: dict[date, Decimal] = {}
        for raw_day, state, fx, n, spent in await conn.execute(gens):
            point = points.get(_as_date(raw_day))
            if point is None:
                continue
            bucket = state if state in ("completed", "failed") else "active"
            point.by_state[bucket] = point.by_state.get(bucket, 0) + n
            if state in KIE_DONE_STATES:
                point.kie_credits += Decimal(str(spent))
                extra = kopecks_of(Decimal(str(spent)), Decimal(str(fx)), usd_per_credit)
                costs[point.day] = costs.get(point.day, Decimal(0)) + extra
        for d, cost in costs.items():
            points[d].kie_cost_kopecks = _round(cost)
        revenue_id = await revenue_account_id(conn)
        if revenue_id is not None:
            tday = _day(conn, T.c.created_at)
            money = (
                sa.select(tday, sa.func.sum(_revenue_signed(revenue_id)))
                .where(_revenue_filter(revenue_id, since, until))
                .group_by(tday)
            )
            for raw_day, amount in await conn.execute(money):
                if (point := points.get(_as_date(raw_day))) is not None:
                    point.revenue_kopecks = int(amount or 0)
    return list(points.values())


async def top_models(engine: AsyncEngine, *, days: int, now: datetime, limit: int = 10) -> list[ModelStat]:
    """The most launched models over the last `days` days, with their success and Kie spend."""
    since = midnight(now) - timedelta(days=days - 1)
    until = midnight(now) + timedelta(days=1)
    query = (
        sa.select(G.c.model_id, G.c.state, sa.func.count(), sa.func.coalesce(sa.func.sum(G.c.credits), 0))
        .where(G.c.created_at >= since, G.c.created_at < until)
        .group_by(G.c.model_id, G.c.state)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return rank_models(rows, limit)


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
