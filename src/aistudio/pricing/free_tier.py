"""The FREE tier: which models are free, and how often each user may use them.

The free models are derived, never hand-picked: the N cheapest enabled models at their default inputs,
ties broken by id, so every replica and every restart agrees. Usage is recorded per generation (reserved
before the Kie call, `used` on success, `returned` on failure so a failure does not eat the allowance).
Reservations run inside the launch transaction, on the raw executor (see `aistudio.db.rawsql`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from aistudio.catalog.models import ModelSpec
from aistudio.db.rawsql import RawTx, Sql, read_datetime
from aistudio.db.sql import utcnow

LOCK_USER = Sql("SELECT id FROM users WHERE id = :user_id FOR UPDATE")
RECENT_USES = Sql(
    "SELECT created_at FROM free_usage WHERE user_id = :user_id AND model_id = :model_id "
    "AND created_at > :since AND status <> 'returned' ORDER BY created_at"
)
SPENT_SINCE = Sql(
    "SELECT coalesce(sum(credits), 0) FROM free_usage WHERE created_at >= :since AND status <> 'returned'"
)
INSERT_USE = Sql(
    "INSERT INTO free_usage (user_id, model_id, generation_key, credits, status, created_at) "
    "VALUES (:user_id, :model_id, :key, :credits, 'reserved', :now)"
)
SETTLE = Sql("UPDATE free_usage SET status = :status WHERE generation_key = :key AND status = 'reserved'")


def derive_free_models(models: Iterable[ModelSpec], size: int) -> list[ModelSpec]:
    """The `size` cheapest enabled, visible models by default-input credits; ties by id."""
    candidates = [m for m in models if m.enabled and not m.hidden]
    ranked = sorted(candidates, key=lambda m: (m.pricing.credits(m.defaults()), m.id))
    return ranked[:size]


@dataclass(frozen=True)
class FreeLimits:
    per_model_per_day: int
    per_model_per_hour: int
    daily_credit_cap: Decimal


class FreeRefusal(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    GLOBAL_CAP = "global_cap"


@dataclass(frozen=True)
class FreeDecision:
    allowed: bool
    refusal: FreeRefusal | None
    used_today: int
    used_this_hour: int
    retry_at: datetime | None  # when the user's next free use of this model opens


class FreeTier:
    """Limits for free generations; runs in the caller's transaction so reserve and launch are atomic."""

    def __init__(self, limits: FreeLimits) -> None:
        self.limits = limits

    async def status(self, tx: RawTx, user_id: int, model_id: str, *, now: datetime | None = None) -> FreeDecision:
        """What the user has left for this model, without reserving anything."""
        now = now or utcnow()
        rows = await tx.fetchall(RECENT_USES, user_id=user_id, model_id=model_id, since=now - timedelta(days=1))
        day = [t for t in (read_datetime(r[0]) for r in rows) if t is not None]
        hour = [t for t in day if t > now - timedelta(hours=1)]
        if len(hour) >= self.limits.per_model_per_hour:
            return FreeDecision(False, FreeRefusal.HOURLY, len(day), len(hour), hour[0] + timedelta(hours=1))
        if len(day) >= self.limits.per_model_per_day:
            return FreeDecision(False, FreeRefusal.DAILY, len(day), len(hour), day[0] + timedelta(days=1))
        return FreeDecision(True, None, len(day), len(hour), None)

    async def reserve(
        self,
        tx: RawTx,
        user_id: int,
        model_id: str,
        credits: Decimal,
        generation_key: str,
        *,
        now: datetime | None = None,
    ) -> FreeDecision:
        """Check the limits and record a reserved use, in `tx`."""
        now = now or utcnow()
        # One user's reservations in turn (PostgreSQL); SQLite's BEGIN IMMEDIATE already does this.
        await tx.fetchrow(LOCK_USER, user_id=user_id)
        decision = await self.status(tx, user_id, model_id, now=now)
        if not decision.allowed:
            return decision
        # The cap may be overshot by reservations racing in other users' transactions at the same moment;
        # it bounds a day's spend, and a single hot row for every free launch would cost more than that.
        if await self.spent_today(tx, now=now) + credits > self.limits.daily_credit_cap:
            return FreeDecision(False, FreeRefusal.GLOBAL_CAP, decision.used_today, decision.used_this_hour, None)
        await tx.execute(INSERT_USE, user_id=user_id, model_id=model_id, key=generation_key, credits=credits, now=now)
        return FreeDecision(True, None, decision.used_today + 1, decision.used_this_hour + 1, None)

    async def settle(self, tx: RawTx, generation_key: str, *, succeeded: bool) -> None:
        """Mark a reserved use as used, or give it back when the generation failed."""
        await tx.execute(SETTLE, key=generation_key, status="used" if succeeded else "returned")

    async def spent_today(self, tx: RawTx, *, now: datetime | None = None) -> Decimal:
        """Kie credits that free generations reserved or used since midnight UTC."""
        now = now or utcnow()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        row = await tx.fetchrow(SPENT_SINCE, since=midnight)
        return Decimal(str(row[0])) if row else Decimal(0)
