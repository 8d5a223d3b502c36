"""The pieces of a Stars refund's state machine: states, keys, guarded moves, what a refund takes back.

The flows that use them (an admin's refund, Telegram's `refunded_payment`) are in `aistudio.payments.refunds`,
whose docstring has the table of states and transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import InsufficientFunds
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, payments, referral_rewards
from aistudio.growth.promo import promo_bonus_key
from aistudio.growth.referrals import referral_key

CREDITED = "credited"
REFUNDING = "refunding"  # attempt n: the wallet is (being) debited, Telegram asked or about to be
UNDOING = "undoing"  # attempt n: Telegram definitely refused; what attempt n debited is owed back
REFUNDED = "refunded"
REJECTED = "rejected"  # the money arrived but was never credited (did not match its invoice)


def refund_key(charge_id: str, attempt: int) -> str:
    """The debit of the top-up itself (the first attempt keeps the historical key)."""
    return f"refund:stars:{charge_id}" if attempt == 0 else f"refund:stars:{charge_id}:{attempt}"


def bonus_refund_key(payment_id: int, attempt: int) -> str:
    """The debit of the promo bonus paid on this top-up."""
    return f"refund-bonus:{payment_id}" if attempt == 0 else f"refund-bonus:{payment_id}:{attempt}"


def referral_clawback_key(payment_id: int) -> str:
    """The referrer's reward taken back (once per payment: it follows Telegram's refund, never undone)."""
    return f"refund-referral:{payment_id}"


def undo_key(key: str) -> str:
    return f"{key}:undo"


def attempt_of(row: Any) -> int:
    return int((row.meta or {}).get("refund_attempt", 0))


@dataclass(frozen=True)
class TakeBack:
    """What refunding one top-up takes back: from the payer's wallet, and from the referrer's."""

    topup: int
    bonus: int = 0  # the promo percentage bonus credited on this top-up
    referrer_id: int | None = None
    referral: int = 0  # the referrer's reward credited for this top-up

    @property
    def total(self) -> int:
        """Taken from the payer's wallet."""
        return self.topup + self.bonus


async def load_payment(engine: AsyncEngine, charge_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(payments).where(payments.c.provider == "stars", payments.c.external_id == charge_id)
            )
        ).first()


async def posted_amount(engine: AsyncEngine, key: str) -> int | None:
    """How much a ledger key moved, or None when it never moved money (unused, or refused)."""
    async with engine.connect() as conn:
        amount = (
            await conn.execute(
                sa.select(ledger_transfers.c.amount).where(
                    ledger_transfers.c.idempotency_key == key, ledger_transfers.c.status == "posted"
                )
            )
        ).scalar()
    return None if amount is None else int(amount)


async def take_back_of(engine: AsyncEngine, row: Any) -> TakeBack:
    """The top-up, the promo bonus and the referral reward that were actually credited for this payment."""
    bonus = await posted_amount(engine, promo_bonus_key(row.id)) or 0
    referral = await posted_amount(engine, referral_key(row.id)) or 0
    referrer_id = None
    if referral:
        async with engine.connect() as conn:
            referrer_id = (
                await conn.execute(
                    sa.select(referral_rewards.c.referrer_id).where(referral_rewards.c.payment_id == row.id)
                )
            ).scalar()
    return TakeBack(row.amount_kopecks, bonus, referrer_id, referral if referrer_id is not None else 0)


async def move(engine: AsyncEngine, row: Any, *, from_: str, to: str, attempt: int | None = None, **meta: Any) -> bool:
    """Compare-and-set: move the payment from (`from_`, its attempt as in `row`) to `to`; True when it moved.

    The row is locked (PostgreSQL `FOR UPDATE`, SQLite `BEGIN IMMEDIATE`) between the check and the write, so
    of two concurrent moves from the same state exactly one succeeds.
    """
    expected = attempt_of(row)
    async with engine.begin() as conn:
        current = (
            await conn.execute(
                sa.select(payments.c.status, payments.c.meta).where(payments.c.id == row.id).with_for_update()
            )
        ).one()
        if current.status != from_ or int((current.meta or {}).get("refund_attempt", 0)) != expected:
            return False
        values = {**(current.meta or {}), **meta}
        if attempt is not None:
            values["refund_attempt"] = attempt
        await conn.execute(
            sa.update(payments).where(payments.c.id == row.id).values(status=to, meta=values, updated_at=utcnow())
        )
    return True


async def debit_take_back(ledger: Ledger, row: Any, attempt: int, take: TakeBack, *, reason: str, meta: Any) -> None:
    """Debit the top-up and its bonus under attempt `attempt`'s keys; `InsufficientFunds` when short."""
    await ledger.debit(
        refund_key(row.external_id, attempt), row.user_id, take.topup, Operator.TOPUPS_STARS, reason=reason, meta=meta
    )
    if take.bonus:
        await ledger.debit(
            bonus_refund_key(row.id, attempt), row.user_id, take.bonus, Operator.PROMO, reason=reason, meta=meta
        )


async def finish_undo(engine: AsyncEngine, ledger: Ledger, row: Any) -> bool:
    """A payment in `undoing` (attempt n): give back what attempt n debited, then make it `credited` (n + 1).

    Safe to repeat after a crash at any point: each give-back has its own key, and only what attempt n
    really debited (its key posted) is given back.
    """
    attempt = attempt_of(row)
    for key, account in (
        (refund_key(row.external_id, attempt), Operator.TOPUPS_STARS),
        (bonus_refund_key(row.id, attempt), Operator.PROMO),
    ):
        amount = await posted_amount(engine, key)
        if amount:
            await ledger.credit(
                undo_key(key), row.user_id, amount, account, reason="refund failed: money back",
                meta={"payment_id": row.id},
            )  # fmt: skip
    return await move(engine, row, from_=UNDOING, to=CREDITED, attempt=attempt + 1)


async def claw_back_referral(engine: AsyncEngine, ledger: Ledger, row: Any, take: TakeBack) -> int:
    """Take the referrer's reward back, as much as their wallet can spend (never below zero); returns how much.

    Once per payment: a repeat finds the key's first outcome (a refusal counts as nothing taken).
    """
    if take.referrer_id is None or take.referral <= 0:
        return 0
    key = referral_clawback_key(row.id)
    async with engine.connect() as conn:
        found = (
            await conn.execute(sa.select(ledger_transfers.c.amount).where(ledger_transfers.c.idempotency_key == key))
        ).scalar()
    if found is not None:
        return int(found)
    amount = min(take.referral, (await wallet_balance(engine, take.referrer_id)).available)
    if amount <= 0:
        return 0
    try:
        await ledger.debit(
            key, take.referrer_id, amount, Operator.REFERRAL, reason="referee's top-up refunded",
            meta={"payment_id": row.id},
        )  # fmt: skip
    except InsufficientFunds:  # spent between our look and the debit: the key stays refused
        return 0
    return amount
