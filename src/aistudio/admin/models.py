"""The admin's model list: enabled state, effective markup, and today's success rate and median time."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.overrides import LiveCatalog
from aistudio.db.sql import as_utc, utcnow
from aistudio.db.tables import generations
from aistudio.generation.states import State


@dataclass(frozen=True)
class ModelDayStats:
    finished: int  # completed + failed today
    completed: int
    median_seconds: float | None  # launch → result ready at Kie, completed ones

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.finished if self.finished else None


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    enabled: bool  # what users see now
    switched_off: bool  # by an admin (the catalog itself enables it)
    catalog_reason: str | None  # why the catalog ships it disabled
    markup: Decimal  # effective
    markup_overridden: bool
    stats: ModelDayStats


def day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)


async def today_stats(engine: AsyncEngine, *, now: datetime | None = None) -> dict[str, ModelDayStats]:
    """Per model, the generations launched today (UTC) that have finished."""
    g = generations
    query = sa.select(g.c.model_id, g.c.state, g.c.created_at, g.c.completed_at).where(
        g.c.created_at >= day_start(now), g.c.state.in_([State.COMPLETED, State.FAILED])
    )
    finished: dict[str, int] = {}
    completed: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    async with engine.connect() as conn:
        async for row in await conn.stream(query):
            finished[row.model_id] = finished.get(row.model_id, 0) + 1
            if row.state == State.COMPLETED:
                completed[row.model_id] = completed.get(row.model_id, 0) + 1
                if (seconds := _seconds(row.created_at, row.completed_at)) is not None:
                    times.setdefault(row.model_id, []).append(seconds)
    stats = {}
    for model_id, n in finished.items():
        known = times.get(model_id)
        stats[model_id] = ModelDayStats(n, completed.get(model_id, 0), statistics.median(known) if known else None)
    return stats


def _seconds(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    return ((as_utc(end) or end) - (as_utc(start) or start)).total_seconds()


async def model_rows(engine: AsyncEngine, catalog: LiveCatalog, default_markup: Decimal) -> list[ModelRow]:
    """Every model of the catalog (hidden helper models left out), in catalog order."""
    stats = await today_stats(engine)
    empty = ModelDayStats(0, 0, None)
    rows = []
    for spec in catalog.base:
        if spec.hidden:
            continue
        override = catalog.overrides.get(spec.id)
        rows.append(
            ModelRow(
                model_id=spec.id,
                enabled=spec.enabled and override.enabled is not False,
                switched_off=spec.enabled and override.enabled is False,
                catalog_reason=None if spec.enabled else spec.disabled_reason,
                markup=override.markup if override.markup is not None else default_markup,
                markup_overridden=override.markup is not None,
                stats=stats.get(spec.id, empty),
            )
        )
    return rows
