"""Generation rows written straight into the table, for admin queries that only read them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.sql import utcnow
from aistudio.db.tables import generation_events, generations


async def add_generation(
    engine: AsyncEngine,
    *,
    request_id: str,
    user_id: int,
    model_id: str = "z-image",
    state: str = "completed",
    charged: int = 0,
    error_class: str | None = None,
    created_at: datetime | None = None,
    seconds: float | None = 10.0,
) -> int:
    created = created_at or utcnow() - timedelta(minutes=5)
    async with engine.begin() as conn:
        gid = (
            await conn.execute(
                sa.insert(generations)
                .values(
                    request_id=request_id, user_id=user_id, model_id=model_id, family="market", inputs={}, state=state,
                    credits=Decimal(4), price_kopecks=charged, fx_rub_per_usd=Decimal(95), markup=Decimal(2),
                    charged_kopecks=charged, error_class=error_class, kie_code=501 if error_class else None,
                    error_message="boom" if error_class else None, created_at=created, updated_at=created,
                    completed_at=created + timedelta(seconds=seconds) if seconds is not None else None,
                )
                .returning(generations.c.id)
            )
        ).scalar_one()  # fmt: skip
        for n, step in enumerate(("held", "submitted", state)):
            await conn.execute(
                sa.insert(generation_events).values(
                    generation_id=gid, request_id=request_id, user_id=user_id, model_id=model_id, state=step,
                    error_class=error_class if step == "failed" else None, elapsed_ms=n * 1000,
                    created_at=created + timedelta(seconds=n),
                )
            )  # fmt: skip
    return int(gid)
