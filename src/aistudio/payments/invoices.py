"""Invoices we send: a row per invoice, written before Telegram sees it, looked up by its payload.

The payload is a random, unguessable token (nothing about the user or the amount can be read or forged
from it); the row remembers who may pay it, what they pay and what the wallet receives, and until when.
Status: open → paid, or expired (noticed at pre-checkout), or mismatch (a payment that did not match).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.rawsql import RawDb, Sql, read_datetime
from aistudio.db.sql import utcnow
from aistudio.db.tables import invoices
from aistudio.payments.packs import Pack

OPEN = "open"
PAID = "paid"
EXPIRED = "expired"
MISMATCH = "mismatch"


@dataclass(frozen=True)
class Invoice:
    id: int
    payload: str
    user_id: int
    provider: str
    pack: str
    currency: str
    amount: int
    credit_kopecks: int
    status: str
    created_at: datetime
    expires_at: datetime
    payment_id: int | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def new_payload() -> str:
    """22 URL-safe characters of randomness (128 bits): within Telegram's 1–128 bytes, never guessable."""
    return secrets.token_urlsafe(16)


async def create_invoice(
    engine: AsyncEngine, user_id: int, pack: Pack, *, ttl_seconds: int, now: datetime | None = None
) -> Invoice:
    """Record an open invoice for `pack`; send it to Telegram only after this returns."""
    now = now or utcnow()
    values = {
        "payload": new_payload(),
        "user_id": user_id,
        "provider": pack.provider,
        "pack": pack.code,
        "currency": pack.currency,
        "amount": pack.amount,
        "credit_kopecks": pack.credit_kopecks,
        "status": OPEN,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_seconds),
    }
    async with engine.begin() as conn:
        invoice_id = (await conn.execute(sa.insert(invoices).values(**values).returning(invoices.c.id))).scalar_one()
    return Invoice(id=invoice_id, **values)  # type: ignore[arg-type]


FIND = Sql(
    "SELECT id, payload, user_id, provider, pack, currency, amount, credit_kopecks, status, created_at, "
    "expires_at, payment_id FROM invoices WHERE payload = :payload"
)


async def find_invoice(engine: AsyncEngine, payload: str) -> Invoice | None:
    """One read through the unique index on `payload`, on the raw driver: no BEGIN, so on SQLite it never
    queues behind writers for the write lock (the pre-checkout must be answered fast)."""
    if not payload or len(payload) > 64:
        return None
    async with RawDb(engine).reading() as tx:
        row = await tx.fetchrow(FIND, payload=payload)
    if row is None:
        return None
    created, expires = read_datetime(row[9]), read_datetime(row[10])
    assert created is not None and expires is not None
    return Invoice(*row[:9], created_at=created, expires_at=expires, payment_id=row[11])  # type: ignore[misc]


async def set_status(engine: AsyncEngine, invoice_id: int, status: str, *, only_from: tuple[str, ...]) -> bool:
    """Move an invoice to `status` if it is in one of `only_from`; True when it moved."""
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(invoices)
            .where(invoices.c.id == invoice_id, invoices.c.status.in_(only_from))
            .values(status=status)
        )
    return result.rowcount > 0


async def mark_paid(engine: AsyncEngine, invoice_id: int, payment_id: int, *, now: datetime | None = None) -> None:
    """Paid with this payment (an expired invoice paid just in time counts too: the money arrived)."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(invoices)
            .where(invoices.c.id == invoice_id, invoices.c.status.in_((OPEN, EXPIRED)))
            .values(status=PAID, payment_id=payment_id, paid_at=now or utcnow())
        )
