"""The FREE tier: which models are free, and how often each user may use them.

The free models are derived, never hand-picked: the N cheapest enabled models at their default inputs,
ties broken by id, so every replica and every restart agrees. Usage is recorded per generation (reserved
before the Kie call, `used` on success, `returned` on failure so a failure does not eat the allowance).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aistudio.catalog.models import ModelSpec
from aistudio.db.sql import as_utc, utcnow
from aistudio.db.tables import free_usage, users


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
    """Limits for free generations; call inside the caller's transaction so reserve and launch are atomic."""

    def __init__(self, limits: FreeLimits) -> None:
        self.limits = limits

    async def status(
        self, conn: AsyncConnection, user_id: int, model_id: str, *, now: datetime | None = None
    ) -> FreeDecision:
        """What the user has left for this model, without reserving anything."""
        now = now or utcnow()
        day_times = await self._recent_uses(conn, user_id, model_id, now - timedelta(days=1))
        hour_times = [t for t in day_times if t > now - timedelta(hours=1)]
        if len(hour_times) >= self.limits.per_model_per_hour:
            return FreeDecision(False, FreeRefusal.HOURLY, len(day_times), len(hour_times),
                                hour_times[0] + timedelta(hours=1))  # fmt: skip
        if len(day_times) >= self.limits.per_model_per_day:
            return FreeDecision(False, FreeRefusal.DAILY, len(day_times), len(hour_times),
                                day_times[0] + timedelta(days=1))  # fmt: skip
        return FreeDecision(True, None, len(day_times), len(hour_times), None)

    async def reserve(
        self,
        conn: AsyncConnection,
        user_id: int,
        model_id: str,
        credits: Decimal,
        generation_key: str,
        *,
        now: datetime | None = None,
    ) -> FreeDecision:
        """Check the limits and record a reserved use, all in `conn`'s transaction."""
        now = now or utcnow()
        # Serialise one user's reservations (PostgreSQL); SQLite's BEGIN IMMEDIATE already does.
        await conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())
        decision = await self.status(conn, user_id, model_id, now=now)
        if not decision.allowed:
            return decision
        if await self.spent_today(conn, now=now) + credits > self.limits.daily_credit_cap:
            return FreeDecision(
                False, FreeRefusal.GLOBAL_CAP, decision.used_today, decision.used_this_hour, None
            )
        await conn.execute(
            sa.insert(free_usage).values(
                user_id=user_id,
                model_id=model_id,
                generation_key=generation_key,
                credits=credits,
                status="reserved",
                created_at=now,
            )
        )
        return FreeDecision(True, None, decision.used_today + 1, decision.used_this_hour + 1, None)

    async def settle(self, conn: AsyncConnection, generation_key: str, *, succeeded: bool) -> None:
        """Mark a reserved use as used, or give it back when the generation failed."""
        await conn.execute(
            sa.update(free_usage)
            .where(free_usage.c.generation_key == generation_key, free_usage.c.status == "reserved")
            .values(status="used" if succeeded else "returned")
        )

    async def spent_today(self, conn: AsyncConnection, *, now: datetime | None = None) -> Decimal:
        """Kie credits that free generations reserved or used since midnight UTC."""
        now = now or utcnow()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        total = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(free_usage.c.credits), 0)).where(
                    free_usage.c.created_at >= midnight, free_usage.c.status != "returned"
                )
            )
        ).scalar_one()
        return Decimal(total)

    async def _recent_uses(
        self, conn: AsyncConnection, user_id: int, model_id: str, since: datetime
    ) -> list[datetime]:
        rows = await conn.execute(
            sa.select(free_usage.c.created_at)
            .where(
                free_usage.c.user_id == user_id,
                free_usage.c.model_id == model_id,
                free_usage.c.created_at > since,
                free_usage.c.status != "returned",
            )
            .order_by(free_usage.c.created_at)
        )
        return [as_utc(t) or t for (t,) in rows]
