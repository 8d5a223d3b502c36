"""Exact rollups of closed UTC days, so a month of dashboard reads a few thousand rows, not a million.

A day is closed GRACE after its midnight (a transaction that began before midnight has committed by
then). Its rollup holds revenue (posted transfers into and out of the REVENUE account, which never change
once written) and, per (model, state, exchange rate), the generations launched that day and their credits.
Generations do change after their day (a late result, a refund's state): every change bumps
`generations.updated_at`, so before each read `refresh` looks at the generations changed since the days
were last checked (`ix_generations_updated`) and recomputes exactly the days they belong to; days found
unchanged are marked checked as of the start of that look. Missing days are computed on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.db.sql import as_utc
from aistudio.db.tables import generations, ledger_transfers, stats_day_generations, stats_days

GRACE = timedelta(minutes=10)
# A row's updated_at is its writer's clock at the statement, a little before its commit is visible.
CLOCK_MARGIN = timedelta(minutes=5)
G, T, D, DG = generations, ledger_transfers, stats_days, stats_day_generations


@dataclass(frozen=True)
class GenGroup:
    day: date
    model_id: str
    state: str
    fx: Decimal
    launched: int
    credits: Decimal


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def first_open_day(now: datetime) -> date:
    """Days before this one are closed (rolled up); this one and later are read live."""
    return (now.astimezone(UTC) - GRACE).date()


def day_of(conn: AsyncConnection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def live_groups(conn: AsyncConnection, since: datetime, until: datetime) -> list[GenGroup]:
    day = day_of(conn, G.c.created_at)
    query = (
        sa.select(day, G.c.model_id, G.c.state, G.c.fx_rub_per_usd, sa.func.count(), sa.func.sum(G.c.credits))
        .where(G.c.created_at >= since, G.c.created_at < until)
        .group_by(day, G.c.model_id, G.c.state, G.c.fx_rub_per_usd)
    )
    return [
        GenGroup(as_date(d), m, s, Decimal(str(fx)), int(n), Decimal(str(c or 0)))
        for d, m, s, fx, n, c in await conn.execute(query)
    ]


async def live_revenue(
    conn: AsyncConnection, revenue_id: int | None, since: datetime, until: datetime
) -> dict[date, int]:
    if revenue_id is None:
        return {}
    day = day_of(conn, T.c.created_at)
    signed = sa.case((T.c.credit_account_id == revenue_id, T.c.amount), else_=-T.c.amount)
    query = (
        sa.select(day, sa.func.sum(signed))
        .where(
            T.c.status == "posted",
            T.c.created_at >= since,
            T.c.created_at < until,
            sa.or_(T.c.credit_account_id == revenue_id, T.c.debit_account_id == revenue_id),
        )
        .group_by(day)
    )
    return {as_date(d): int(amount or 0) for d, amount in await conn.execute(query)}


async def _recompute(engine: AsyncEngine, day: date, revenue_id: int | None, checked_at: datetime) -> None:
    start, end = day_start(day), day_start(day) + timedelta(days=1)
    key = day.isoformat()
    try:
        async with engine.begin() as conn:
            groups = await live_groups(conn, start, end)
            revenue = (await live_revenue(conn, revenue_id, start, end)).get(day, 0)
            await conn.execute(sa.delete(DG).where(DG.c.day == key))
            await conn.execute(sa.delete(D).where(D.c.day == key))
            if groups:
                await conn.execute(
                    sa.insert(DG),
                    [
                        {"day": key, "model_id": g.model_id, "state": g.state, "fx_rub_per_usd": g.fx,
                         "launched": g.launched, "credits": g.credits}
                        for g in groups
                    ],
                )  # fmt: skip
            await conn.execute(sa.insert(D).values(day=key, revenue_kopecks=revenue, checked_at=checked_at))
    except IntegrityError:
        pass  # another replica rolled the same day up at the same moment: its rows are as good as ours


async def refresh(engine: AsyncEngine, days: Iterable[date], revenue_id: int | None, now: datetime) -> None:
    """Make the rollups of the given closed days exact as of `now` (compute missing, recompute changed)."""
    wanted = sorted(set(days))
    if not wanted:
        return
    keys = [d.isoformat() for d in wanted]
    async with engine.connect() as conn:
        checked = {
            as_date(k): as_utc(at) or at
            for k, at in await conn.execute(sa.select(D.c.day, D.c.checked_at).where(D.c.day.in_(keys)))
        }
        stale: set[date] = {d for d in wanted if d not in checked}
        if checked:
            oldest = min(checked.values()) - CLOCK_MARGIN
            changed = sa.select(G.c.created_at, G.c.updated_at).where(
                G.c.updated_at > oldest,
                G.c.created_at >= day_start(wanted[0]),
                G.c.created_at < day_start(wanted[-1]) + timedelta(days=1),
            )
            for created_at, updated_at in await conn.execute(changed):
                day = (as_utc(created_at) or created_at).date()
                if day in checked and (as_utc(updated_at) or updated_at) > checked[day] - CLOCK_MARGIN:
                    stale.add(day)
    for day in sorted(stale):
        await _recompute(engine, day, revenue_id, now)
    fresh = [d.isoformat() for d in checked if d not in stale]
    if fresh:
        async with engine.begin() as conn:
            await conn.execute(sa.update(D).where(D.c.day.in_(fresh)).values(checked_at=now))


async def rolled_up(conn: AsyncConnection, first: date, last: date) -> tuple[list[GenGroup], dict[date, int]]:
    """The stored rollups of days first..last (inclusive)."""
    lo, hi = first.isoformat(), last.isoformat()
    rows = await conn.execute(
        sa.select(DG.c.day, DG.c.model_id, DG.c.state, DG.c.fx_rub_per_usd, DG.c.launched, DG.c.credits).where(
            DG.c.day >= lo, DG.c.day <= hi
        )
    )
    groups = [GenGroup(as_date(d), m, s, Decimal(str(fx)), int(n), Decimal(str(c))) for d, m, s, fx, n, c in rows]
    revenue = {
        as_date(d): int(r)
        for d, r in await conn.execute(sa.select(D.c.day, D.c.revenue_kopecks).where(D.c.day >= lo, D.c.day <= hi))
    }
    return groups, revenue
