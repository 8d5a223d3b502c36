"""The dashboard's list queries: generations and payments with the filters of their pages and CSV exports.

Filters come from query strings and are validated here: a malformed value is dropped (the list shows
everything else), never an error page. Lists and exports go newest first and page by id (keyset), so an
export of a million rows streams in constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.tables import generations, payments

G, P = generations, payments
GENERATION_STATES = ("held", "submitted", "succeeded", "downloaded", "sending", "completed", "failed")
PAYMENT_STATUSES = ("pending", "credited", "rejected", "refunded")
PAYMENT_PROVIDERS = ("stars", "yookassa", "manual", "promo")
GENERATION_COLUMNS = (
    "id", "request_id", "user_id", "model_id", "state", "is_free", "credits", "price_kopecks", "charged_kopecks",
    "fx_rub_per_usd", "markup", "error_class", "kie_code", "error_message", "kie_task_id", "created_at", "completed_at",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "id", "user_id", "provider", "external_id", "status", "amount_kopecks", "currency", "provider_amount",
    "created_at", "settled_at",
)  # fmt: skip


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() and len(value) < 19 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class GenerationFilter:
    user_id: int | None = None
    model_id: str | None = None
    state: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    request_id: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> GenerationFilter:
        rq = (query.get("rq") or "").strip().upper()
        if rq and not rq.startswith("RQ-"):
            rq = "RQ-" + rq
        state = query.get("status") or None
        model = (query.get("model") or "").strip()
        return cls(
            user_id=_int(query.get("user")),
            model_id=model[:128] or None,
            state=state if state in GENERATION_STATES else None,
            date_from=_date(query.get("from")),
            date_to=_date(query.get("to")),
            request_id=rq[:16] or None,
        )

    def conditions(self) -> list[Any]:
        where: list[Any] = []
        if self.request_id:
            where.append(G.c.request_id == self.request_id)
        if self.user_id is not None:
            where.append(G.c.user_id == self.user_id)
        if self.model_id:
            where.append(G.c.model_id == self.model_id)
        if self.state:
            where.append(G.c.state == self.state)
        if self.date_from:
            where.append(G.c.created_at >= _start(self.date_from))
        if self.date_to:
            where.append(G.c.created_at < _start(self.date_to) + timedelta(days=1))
        return where

    def as_query(self) -> dict[str, str]:
        pairs = {
            "user": self.user_id, "model": self.model_id, "status": self.state, "from": self.date_from,
            "to": self.date_to, "rq": self.request_id,
        }  # fmt: skip
        return {k: str(v) for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class PaymentFilter:
    user_id: int | None = None
    provider: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> PaymentFilter:
        provider, status = query.get("provider"), query.get("status")
        return cls(
            user_id=_int(query.get("user")),
            provider=provider if provider in PAYMENT_PROVIDERS else None,
            status=status if status in PAYMENT_STATUSES else None,
            date_from=_date(query.get("from")),
            date_to=_date(query.get("to")),
        )

    def conditions(self) -> list[Any]:
        where: list[Any] = []
        if self.user_id is not None:
            where.append(P.c.user_id == self.user_id)
        if self.provider:
            where.append(P.c.provider == self.provider)
        if self.status:
            where.append(P.c.status == self.status)
        if self.date_from:
            where.append(P.c.created_at >= _start(self.date_from))
        if self.date_to:
            where.append(P.c.created_at < _start(self.date_to) + timedelta(days=1))
        return where

    def as_query(self) -> dict[str, str]:
        pairs = {
            "user": self.user_id, "provider": self.provider, "status": self.status, "from": self.date_from,
            "to": self.date_to,
        }  # fmt: skip
        return {k: str(v) for k, v in pairs.items() if v is not None}


async def list_rows(engine: AsyncEngine, table: sa.Table, columns: tuple[str, ...], where: list[Any], *, limit: int):
    query = sa.select(*(table.c[name] for name in columns)).where(*where).order_by(table.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        return (await conn.execute(query)).all()


async def iter_rows(
    engine: AsyncEngine, table: sa.Table, columns: tuple[str, ...], where: list[Any], *, batch: int = 2000
) -> AsyncIterator[sa.Row]:
    """Every matching row, newest first, one short query per batch (no transaction held across the export)."""
    before: int | None = None
    while True:
        page_where = [*where, table.c.id < before] if before is not None else where
        rows = await list_rows(engine, table, columns, page_where, limit=batch)
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        before = rows[-1].id
