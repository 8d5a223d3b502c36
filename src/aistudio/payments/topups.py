"""Crediting a paid top-up to a wallet, exactly once, and the effects that follow it.

Every top-up, whatever paid for it (Stars, YooKassa, an approved manual transfer), goes through
`TopupService.credit`. A top-up is first recorded as a `payments` row (unique per provider and external id),
then credited through the ledger under a key made of the same pair, then marked credited. Afterwards the
registered hooks run (a promo code's percentage bonus, the referrer's reward); each is idempotent by the
payment id, and `settled_at` is set only when all of them succeeded.

A crash anywhere leaves a row that `settle` finishes: `pending` rows are credited (the row exists only once
the provider said the money arrived), credited rows without `settled_at` get their hooks re-run. Replaying
the same payment (a duplicate `successful_payment`) finds the row and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import payments

log = logging.getLogger(__name__)

PROVIDER_ACCOUNTS: dict[str, Operator] = {
    "stars": Operator.TOPUPS_STARS,
    "yookassa": Operator.TOPUPS_YOOKASSA,
    "manual": Operator.TOPUPS_MANUAL,
}


@dataclass(frozen=True)
class TopupCredited:
    """What hooks learn about a credited top-up."""

    payment_id: int
    user_id: int
    provider: str
    amount_kopecks: int
    external_id: str
    meta: dict[str, Any] | None = None


TopupHook = Callable[[TopupCredited], Awaitable[None]]


@dataclass(frozen=True)
class CreditOutcome:
    payment_id: int
    amount_kopecks: int
    duplicate: bool  # this (provider, external id) had been recorded before: nothing new was credited


def topup_key(provider: str, external_id: str) -> str:
    return f"topup:{provider}:{external_id}"


class TopupService:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, *, hooks: Sequence[TopupHook] = ()) -> None:
        self.engine = engine
        self.ledger = ledger
        self._hooks: list[TopupHook] = list(hooks)

    def add_hook(self, hook: TopupHook) -> None:
        self._hooks.append(hook)

    async def credit(
        self,
        *,
        user_id: int,
        provider: str,
        external_id: str,
        amount_kopecks: int,
        currency: str,
        provider_amount: int,
        payload: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> CreditOutcome:
        """Record and credit one paid top-up; a repeat with the same provider and external id is a no-op."""
        if provider not in PROVIDER_ACCOUNTS:
            raise ValueError(f"unknown top-up provider {provider!r}")
        if amount_kopecks <= 0:
            raise ValueError("a top-up must be positive")
        now = utcnow()
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert_ignore(conn, payments, ["provider", "external_id"]).values(
                    user_id=user_id,
                    provider=provider,
                    external_id=external_id,
                    status="pending",
                    amount_kopecks=amount_kopecks,
                    currency=currency,
                    provider_amount=provider_amount,
                    payload=payload,
                    meta=meta,
                    created_at=now,
                    updated_at=now,
                )
            )
            row = (
                await conn.execute(
                    sa.select(payments).where(payments.c.provider == provider, payments.c.external_id == external_id)
                )
            ).one()
        if inserted.rowcount == 0 and row.status != "pending":
            # Seen before. Its hooks may still be owed (a crash after the credit): settle them, once.
            if row.status == "credited" and row.settled_at is None:
                await self._run_hooks(row)
            return CreditOutcome(row.id, row.amount_kopecks, duplicate=True)
        await self._credit_row(row)
        return CreditOutcome(row.id, row.amount_kopecks, duplicate=inserted.rowcount == 0)

    async def settle(self, *, older_than: timedelta = timedelta(seconds=30), limit: int = 100) -> int:
        """Finish top-ups a crash interrupted (credit pending rows, re-run owed hooks); returns how many."""
        cutoff = utcnow() - older_than
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(payments)
                    .where(
                        payments.c.provider.in_(list(PROVIDER_ACCOUNTS)),
                        payments.c.updated_at < cutoff,
                        sa.or_(
                            payments.c.status == "pending",
                            sa.and_(payments.c.status == "credited", payments.c.settled_at.is_(None)),
                        ),
                    )
                    .order_by(payments.c.id)
                    .limit(limit)
                )
            ).all()
        for row in rows:
            try:
                if row.status == "pending":
                    await self._credit_row(row)
                else:
                    await self._run_hooks(row)
            except Exception:
                log.exception("could not settle payment %s", row.id)
        return len(rows)

    async def _credit_row(self, row: Any) -> None:
        await self.ledger.credit(
            topup_key(row.provider, row.external_id),
            row.user_id,
            row.amount_kopecks,
            PROVIDER_ACCOUNTS[row.provider],
            reason=f"top-up ({row.provider})",
            meta={"payment_id": row.id},
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(payments)
                .where(payments.c.id == row.id, payments.c.status == "pending")
                .values(status="credited", updated_at=utcnow())
            )
        await self._run_hooks(row)

    async def _run_hooks(self, row: Any) -> None:
        event = TopupCredited(row.id, row.user_id, row.provider, row.amount_kopecks, row.external_id, row.meta)
        ok = True
        for hook in self._hooks:
            try:
                await hook(event)
            except Exception:  # the money is credited; a failed effect is retried by `settle`, never lost
                ok = False
                log.exception("top-up hook %s failed for payment %s", getattr(hook, "__qualname__", hook), row.id)
        if ok:
            async with self.engine.begin() as conn:
                await conn.execute(
                    sa.update(payments)
                    .where(payments.c.id == row.id, payments.c.settled_at.is_(None))
                    .values(settled_at=utcnow())
                )
