"""Pre-checkout checks and the successful payment: the two moments Telegram asks us about a payment.

`check_pre_checkout` decides, from one indexed read, whether the user may pay an invoice now; the reason
of a refusal is a code the handler turns into words in the user's language. `accept_payment` credits a
successful payment through `TopupService` (exactly once per `telegram_payment_charge_id`) when it matches
its invoice, and records it as rejected otherwise: money that does not match an invoice is never credited
by the bot, an admin sorts it out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.config import Settings
from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import payments
from aistudio.payments import invoices as inv
from aistudio.payments.invoices import Invoice
from aistudio.payments.packs import CURRENCIES, pack_now
from aistudio.payments.topups import TopupService

log = logging.getLogger(__name__)

# Pre-checkout refusals (each has a text `payments.reject.<code>`).
UNKNOWN = "unknown"  # no such invoice (forged or from another bot)
NOT_YOURS = "not_yours"  # someone else's invoice, forwarded
ALREADY_PAID = "already_paid"
EXPIRED = "expired"
CHANGED = "changed"  # the pack is no longer offered at this price
AMOUNT = "amount"  # currency or total differ from the invoice


@dataclass(frozen=True)
class PaymentFacts:
    """What Telegram tells us about a successful payment."""

    user_id: int
    currency: str
    total_amount: int
    payload: str
    charge_id: str  # telegram_payment_charge_id: the idempotency key of the credit
    provider_charge_id: str = ""


@dataclass(frozen=True)
class PaymentResult:
    kind: str  # credited | duplicate | rejected
    amount_kopecks: int = 0
    payment_id: int | None = None
    invoice: Invoice | None = None
    reason: str = ""  # for rejected: unknown | not_yours | amount
    first_time: bool = True  # False when this charge had been seen before (nothing new to announce)


def pre_checkout_verdict(
    invoice: Invoice | None, settings: Settings, *, user_id: int, currency: str, total_amount: int, now: datetime
) -> str | None:
    """None when the user may pay; otherwise the refusal's reason code."""
    if invoice is None:
        return UNKNOWN
    if invoice.user_id != user_id:
        return NOT_YOURS
    if invoice.status == inv.PAID:
        return ALREADY_PAID
    if invoice.status != inv.OPEN:
        return EXPIRED if invoice.status == inv.EXPIRED else AMOUNT
    if invoice.expired(now):
        return EXPIRED
    if currency != invoice.currency or total_amount != invoice.amount:
        return AMOUNT
    current = pack_now(settings, invoice.provider, invoice.pack, invoice.amount)
    if current is None or current.credit_kopecks != invoice.credit_kopecks:
        return CHANGED
    return None


async def check_pre_checkout(
    engine: AsyncEngine, settings: Settings, *, payload: str, user_id: int, currency: str, total_amount: int
) -> str | None:
    """Answer a pre-checkout query: None to accept, else the reason code. An expired invoice is marked so."""
    invoice = await inv.find_invoice(engine, payload)
    now = utcnow()
    reason = pre_checkout_verdict(
        invoice, settings, user_id=user_id, currency=currency, total_amount=total_amount, now=now
    )
    if reason == EXPIRED and invoice is not None and invoice.status == inv.OPEN:
        await inv.set_status(engine, invoice.id, inv.EXPIRED, only_from=(inv.OPEN,))
    return reason


def payment_mismatch(invoice: Invoice | None, facts: PaymentFacts) -> str | None:
    """Why a successful payment can't be credited as its invoice says, or None when it matches."""
    if invoice is None:
        return UNKNOWN
    if invoice.user_id != facts.user_id:
        return NOT_YOURS
    if facts.currency != invoice.currency or facts.total_amount != invoice.amount:
        return AMOUNT
    return None


async def accept_payment(engine: AsyncEngine, topups: TopupService, facts: PaymentFacts) -> PaymentResult:
    """Credit a successful payment once, or record it as rejected (nothing credited) when it does not match.

    Expiry is not checked here: the pre-checkout accepted it while it was valid and the money has arrived.
    """
    invoice = await inv.find_invoice(engine, facts.payload)
    reason = payment_mismatch(invoice, facts)
    provider = invoice.provider if invoice is not None else _provider_of(facts.currency)
    meta: dict[str, Any] = {
        "invoice_id": invoice.id if invoice else None,
        "pack": invoice.pack if invoice else None,
        "provider_charge_id": facts.provider_charge_id or None,
    }
    if reason is not None:
        payment_id, new = await record_rejected(engine, provider, facts, {**meta, "reason": reason})
        if invoice is not None and invoice.user_id == facts.user_id:
            await inv.set_status(engine, invoice.id, inv.MISMATCH, only_from=(inv.OPEN, inv.EXPIRED))
        return PaymentResult("rejected", 0, payment_id, invoice, reason, first_time=new)
    assert invoice is not None
    outcome = await topups.credit(
        user_id=facts.user_id,
        provider=invoice.provider,
        external_id=facts.charge_id,
        amount_kopecks=invoice.credit_kopecks,
        currency=facts.currency,
        provider_amount=facts.total_amount,
        payload=facts.payload,
        meta=meta,
    )
    await inv.mark_paid(engine, invoice.id, outcome.payment_id)
    kind = "duplicate" if outcome.duplicate else "credited"
    return PaymentResult(kind, outcome.amount_kopecks, outcome.payment_id, invoice, first_time=not outcome.duplicate)


def _provider_of(currency: str) -> str:
    return next((p for p, c in CURRENCIES.items() if c == currency), "stars")


async def record_rejected(
    engine: AsyncEngine, provider: str, facts: PaymentFacts, meta: dict[str, Any]
) -> tuple[int, bool]:
    """A `rejected` payments row (once per charge id): the money arrived but was not credited.

    Returns the row's id and whether it is new.
    """
    now = utcnow()
    async with engine.begin() as conn:
        inserted = await conn.execute(
            insert_ignore(conn, payments, ["provider", "external_id"]).values(
                user_id=facts.user_id,
                provider=provider,
                external_id=facts.charge_id,
                status="rejected",
                amount_kopecks=0,
                currency=facts.currency[:8],
                provider_amount=facts.total_amount,
                payload=facts.payload[:160],
                meta=meta,
                created_at=now,
                updated_at=now,
            )
        )
        row = (
            await conn.execute(
                sa.select(payments.c.id).where(
                    payments.c.provider == provider, payments.c.external_id == facts.charge_id
                )
            )
        ).one()
    return int(row.id), inserted.rowcount > 0
