"""Monitoring: tell the admins before users notice — the Kie account running dry, a model failing a lot.

Two periodic jobs (every replica runs them; `alert_state` makes each alert fire once, not once per replica):
- the Kie credit balance, read every KIE_BALANCE_POLL_SECONDS: an alert when it falls below
  KIE_BALANCE_ALERT_CREDITS, one "recovered" note when it is back above; nothing on the polls between.
  The `aistudio_kie_credit_balance` gauge gets each value read.
- failure rates over the last hour, per model, from `generation_events`: an alert when failed / finished
  reaches FAILURE_ALERT_RATE with at least FAILURE_ALERT_MIN_COUNT failures, at most once per model per hour.

`AlertStates` is the small memory both use (and the 402 alert of `telegram.alerts`): a state per key that
changes for exactly one caller, and a cooldown stamp.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.db.sql import as_utc, insert_ignore, utcnow
from aistudio.db.tables import alert_state, generation_events
from aistudio.ops.jobs import PeriodicJob

if TYPE_CHECKING:
    from aistudio.ops.metrics import Metrics
    from aistudio.telegram.alerts import AdminAlerts

log = logging.getLogger(__name__)

KIE_BALANCE_KEY = "kie:balance_low"
WINDOW = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AlertStates:
    """`alert_state` rows: read and changed under a row lock, so one replica wins each change."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def _locked(self, conn: AsyncConnection, key: str) -> sa.Row[Any]:
        await conn.execute(
            insert_ignore(conn, alert_state, ["key"]).values(key=key, value={"state": None}, updated_at=_EPOCH)
        )
        query = sa.select(alert_state.c.value, alert_state.c.updated_at).where(alert_state.c.key == key)
        return (await conn.execute(query.with_for_update())).one()  # SQLite: BEGIN IMMEDIATE locks already

    async def transition(self, key: str, state: str, **detail: Any) -> str | None:
        """Set the key's state; returns the previous state if this call changed it, else `state` itself."""
        async with self.engine.begin() as conn:
            row = await self._locked(conn, key)
            previous = (row.value or {}).get("state")
            if previous == state:
                return state
            await conn.execute(
                sa.update(alert_state)
                .where(alert_state.c.key == key)
                .values(value={"state": state, **detail}, updated_at=self.clock())
            )
        return previous

    async def cooldown_passed(self, key: str, every: timedelta) -> bool:
        """True (and the stamp renewed) if the last stamp is older than `every`: the caller may alert."""
        async with self.engine.begin() as conn:
            row = await self._locked(conn, key)
            now = self.clock()
            if now - (as_utc(row.updated_at) or _EPOCH) < every:
                return False
            await conn.execute(
                sa.update(alert_state)
                .where(alert_state.c.key == key)
                .values(value={"state": "alerted"}, updated_at=now)
            )
        return True


@dataclass(frozen=True)
class FailureRate:
    model_id: str
    failed: int
    finished: int

    @property
    def rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


class Monitor:
    def __init__(
        self,
        engine: AsyncEngine,
        alerts: AdminAlerts,
        *,
        kie_balance: Callable[[], Awaitable[Decimal]] | None,
        low_credits: Decimal,
        failure_rate: float,
        failure_min_count: int,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.alerts = alerts
        self.kie_balance = kie_balance
        self.low_credits = low_credits
        self.failure_rate = failure_rate
        self.failure_min_count = failure_min_count
        self.metrics = metrics
        self.clock = clock
        self.states = AlertStates(engine, clock=clock)

    async def check_kie_balance(self) -> Decimal | None:
        """Read the balance; alert on crossing below the threshold, note the recovery; None if unread."""
        if self.kie_balance is None:
            return None
        try:
            balance = await self.kie_balance()
        except Exception as exc:  # Kie down: the generation alerts cover that; try again next poll
            log.warning("monitoring: Kie balance not read: %r", exc)
            return None
        if self.metrics is not None:
            self.metrics.kie_balance.set(float(balance))
        low = balance < self.low_credits
        previous = await self.states.transition(KIE_BALANCE_KEY, "low" if low else "ok", balance=str(balance))
        if low and previous != "low":
            await self.alerts.kie_balance_low(balance, self.low_credits)
        elif not low and previous == "low":
            await self.alerts.kie_balance_recovered(balance)
        return balance

    async def failure_rates(self) -> list[FailureRate]:
        """Per model: generations that ended in the last hour, and how many of them failed."""
        e = generation_events.c
        query = (
            sa.select(e.model_id, e.state, sa.func.count(sa.distinct(e.generation_id)))
            .where(e.created_at >= self.clock() - WINDOW, e.state.in_(["completed", "failed"]))
            .group_by(e.model_id, e.state)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        counts: dict[str, dict[str, int]] = {}
        for model_id, state, n in rows:
            counts.setdefault(model_id, {})[state] = int(n)
        return [
            FailureRate(model, c.get("failed", 0), c.get("failed", 0) + c.get("completed", 0))
            for model, c in sorted(counts.items())
        ]

    async def check_failure_rates(self) -> list[FailureRate]:
        """Alert on each model over the threshold (once per model per hour); returns those alerted."""
        alerted = []
        for found in await self.failure_rates():
            if found.failed < self.failure_min_count or found.rate < self.failure_rate:
                continue
            if await self.states.cooldown_passed(f"model_failures:{found.model_id}", WINDOW):
                await self.alerts.model_failing(found.model_id, found.failed, found.finished)
                alerted.append(found)
        return alerted


def monitoring_jobs(monitor: Monitor, *, balance_every_s: float, failures_every_s: float = 60.0) -> list[PeriodicJob]:
    jobs = [PeriodicJob("monitor.failure_rates", failures_every_s, monitor.check_failure_rates, first_delay_s=15.0)]
    if monitor.kie_balance is not None:
        jobs.append(PeriodicJob("monitor.kie_balance", balance_every_s, monitor.check_kie_balance, first_delay_s=2.0))
    return jobs
