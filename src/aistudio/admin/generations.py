"""Admin work on generations: recent failures by model and error class, one generation's timeline, refunds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin import audit
from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.sql import as_utc, utcnow
from aistudio.db.tables import generation_events, generations, ledger_transfers
from aistudio.generation.states import State

_REQUEST_ID = re.compile(r"^RQ-[0-9A-Z]{8}$")


@dataclass(frozen=True)
class FailureGroup:
    model_id: str
    error_class: str
    count: int
    last_request_id: str
    last_at: datetime


@dataclass(frozen=True)
class TimelineEvent:
    state: str
    error_class: str | None
    kie_code: int | None
    kie_message: str | None
    elapsed_ms: int | None
    created_at: datetime


@dataclass(frozen=True)
class GenerationDetails:
    id: int
    request_id: str
    user_id: int
    model_id: str
    state: str
    is_free: bool
    credits: Any
    price_kopecks: int
    charged_kopecks: int
    kie_task_id: str | None
    error_class: str | None
    kie_code: int | None
    error_message: str | None
    created_at: datetime
    completed_at: datetime | None
    refunded_kopecks: int  # by an admin, after the capture
    events: list[TimelineEvent]

    @property
    def refundable(self) -> bool:
        return self.state == State.COMPLETED and self.charged_kopecks > 0 and self.refunded_kopecks == 0


@dataclass(frozen=True)
class RefundOutcome:
    amount_kopecks: int
    duplicate: bool  # refunded before: nothing moved this time


class RefundRefused(Exception):
    """`code`: not_found | not_captured (failed or free generations were never charged)."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


def refund_key(generation_id: int) -> str:
    return f"refund:generation:{generation_id}"


async def recent_failures(engine: AsyncEngine, *, hours: int = 24, limit: int = 15) -> list[FailureGroup]:
    """Failed generations of the last `hours`, grouped by model and error class, the biggest groups first."""
    g = generations
    since = utcnow() - timedelta(hours=hours)
    error = sa.func.coalesce(g.c.error_class, "unknown").label("error_class")
    grouped = (
        sa.select(g.c.model_id, error, sa.func.count().label("n"), sa.func.max(g.c.id).label("last_id"))
        .where(g.c.state == State.FAILED, g.c.created_at >= since)
        .group_by(g.c.model_id, error)
        .order_by(sa.desc("n"), g.c.model_id)
        .limit(limit)
        .subquery()
    )
    query = sa.select(grouped, g.c.request_id, g.c.created_at).join(g, g.c.id == grouped.c.last_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(grouped.c.n.desc(), grouped.c.model_id))).all()
    return [
        FailureGroup(r.model_id, r.error_class, int(r.n), r.request_id, as_utc(r.created_at) or r.created_at)
        for r in rows
    ]


def parse_generation_ref(text: str) -> tuple[str, str | int] | None:
    """`RQ-ABCD2345` (any case) → ("rq", …); `123` or `#123` → ("id", 123); else None."""
    ref = text.strip().upper()
    if _REQUEST_ID.match(ref):
        return "rq", ref
    digits = ref.lstrip("#")
    if digits.isdigit() and len(digits) < 19:
        return "id", int(digits)
    return None


async def find_generation(engine: AsyncEngine, text: str) -> GenerationDetails | None:
    """A generation by request id or numeric id, with its timeline and refund state."""
    ref = parse_generation_ref(text)
    if ref is None:
        return None
    g, e = generations, generation_events
    where = g.c.request_id == ref[1] if ref[0] == "rq" else g.c.id == ref[1]
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(g).where(where))).first()
        if row is None:
            return None
        events = (await conn.execute(sa.select(e).where(e.c.generation_id == row.id).order_by(e.c.id))).all()
        refunded = (
            await conn.execute(
                sa.select(ledger_transfers.c.amount).where(ledger_transfers.c.idempotency_key == refund_key(row.id))
            )
        ).scalar()
    return GenerationDetails(
        id=row.id, request_id=row.request_id, user_id=row.user_id, model_id=row.model_id, state=row.state,
        is_free=bool(row.is_free), credits=row.credits, price_kopecks=row.price_kopecks,
        charged_kopecks=row.charged_kopecks, kie_task_id=row.kie_task_id, error_class=row.error_class,
        kie_code=row.kie_code, error_message=row.error_message, created_at=as_utc(row.created_at) or row.created_at,
        completed_at=as_utc(row.completed_at), refunded_kopecks=int(refunded or 0),
        events=[
            TimelineEvent(ev.state, ev.error_class, ev.kie_code, ev.kie_message, ev.elapsed_ms,
                          as_utc(ev.created_at) or ev.created_at)
            for ev in events
        ],
    )  # fmt: skip


async def refund_generation(engine: AsyncEngine, ledger: Ledger, *, admin_id: int, generation_id: int) -> RefundOutcome:
    """Give back what a delivered generation was charged, once: a second press moves nothing."""
    g = generations
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(g.c.user_id, g.c.state, g.c.charged_kopecks, g.c.request_id, g.c.model_id).where(
                    g.c.id == generation_id
                )
            )
        ).first()
    if row is None:
        raise RefundRefused("not_found")
    if row.state != State.COMPLETED or row.charged_kopecks <= 0:
        raise RefundRefused("not_captured")
    result = await ledger.credit(
        refund_key(generation_id), row.user_id, row.charged_kopecks, Operator.REVENUE,
        reason=f"refund {row.request_id}", meta={"admin_id": admin_id, "request_id": row.request_id},
    )  # fmt: skip
    if not result.duplicate:
        await audit.record(
            engine, admin_id=admin_id, action="generation.refund", target=f"generation:{generation_id}",
            before={"charged_kopecks": row.charged_kopecks, "refunded_kopecks": 0},
            after={"refunded_kopecks": row.charged_kopecks, "user_id": row.user_id, "request_id": row.request_id},
        )  # fmt: skip
    return RefundOutcome(row.charged_kopecks, result.duplicate)
