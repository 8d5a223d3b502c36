"""Refunds of Stars payments: by an admin (`refundStarPayment`) and by Telegram (`refunded_payment`).

Money first leaves the wallet, then the Stars go back: the wallet is debited under the key
`refund:stars:<charge id>` (never below zero: a refund larger than what the user can spend is refused
before anything happens), then Telegram is asked to refund. If Telegram refuses for a reason other than
"already refunded", the money is put back under its own key and the payment is credited again; the next
attempt then uses a new debit key (`refund:stars:<charge id>:<attempt>`, the attempt kept in the payment's
meta), because a ledger key's outcome never changes.

Telegram also reports refunds as `refunded_payment` messages (after our own refund, or one it made on its
own). Handling one debits under the same key as the admin's refund, so the two never debit twice; a wallet
that can't cover it is left untouched and the shortfall is recorded for an admin to sort out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import InsufficientFunds
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import admin_audit, payments

log = logging.getLogger(__name__)

CREDITED = "credited"
REFUNDING = "refunding"  # the wallet is (being) debited, Telegram not yet asked or not yet answered
REFUNDED = "refunded"


class StarRefunder(Protocol):
    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> Any: ...


class RefundDeps(Protocol):
    """What a refund needs; `BotServices` has all three."""

    engine: AsyncEngine
    ledger: Ledger
    bot: StarRefunder


@dataclass(frozen=True)
class RefundOutcome:
    """`status`: refunded | not_found | not_refundable | already_refunded | insufficient | telegram_error.

    For `refunded_payment` updates: debited | already | short | unknown.
    """

    status: str
    user_id: int | None = None
    amount_kopecks: int = 0
    stars: int = 0
    available_kopecks: int | None = None  # the wallet's spendable money when the refund was refused
    detail: str = ""  # Telegram's error, for the admin

    @property
    def ok(self) -> bool:
        return self.status in ("refunded", "debited", "already", "already_refunded")


def refund_key(charge_id: str, attempt: int) -> str:
    return f"refund:stars:{charge_id}" if attempt == 0 else f"refund:stars:{charge_id}:{attempt}"


async def _payment(engine: AsyncEngine, charge_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(payments).where(payments.c.provider == "stars", payments.c.external_id == charge_id)
            )
        ).first()


def _attempt(row: Any) -> int:
    return int((row.meta or {}).get("refund_attempt", 0))


async def _set(engine: AsyncEngine, row: Any, status: str, *, from_: tuple[str, ...], **meta: Any) -> bool:
    async with engine.begin() as conn:
        current = (
            await conn.execute(sa.select(payments.c.meta).where(payments.c.id == row.id).with_for_update())
        ).scalar_one()
        result = await conn.execute(
            sa.update(payments)
            .where(payments.c.id == row.id, payments.c.status.in_(from_))
            .values(status=status, meta={**(current or {}), **meta}, updated_at=utcnow())
        )
    return result.rowcount > 0


async def _audit(engine: AsyncEngine, admin_id: int, action: str, row: Any, after: dict[str, Any], reason: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(admin_audit).values(
                admin_id=admin_id,
                action=action,
                target=f"payment:stars:{row.external_id}",
                before={"status": row.status, "user_id": row.user_id, "amount_kopecks": row.amount_kopecks},
                after=after,
                reason=reason,
                created_at=utcnow(),
            )
        )


async def refund_star_payment(deps: RefundDeps, charge_id: str, *, admin_id: int, reason: str) -> RefundOutcome:
    """An admin refunds a Stars top-up: debit the wallet, ask Telegram, mark the payment refunded, audit.

    Refused (nothing moved, Telegram not called) when the payment is unknown, not credited, already
    refunded, or when the user can't cover it from their spendable balance.
    """
    engine, ledger = deps.engine, deps.ledger
    row = await _payment(engine, charge_id)
    if row is None:
        return RefundOutcome("not_found")
    base = {"user_id": row.user_id, "amount_kopecks": row.amount_kopecks, "stars": row.provider_amount}
    if row.status == REFUNDED:
        return RefundOutcome("already_refunded", **base)
    if row.status not in (CREDITED, REFUNDING):
        return RefundOutcome("not_refundable", **base, detail=row.status)
    attempt = _attempt(row)
    key = refund_key(charge_id, attempt)
    if row.status == CREDITED:  # a resumed refund (REFUNDING) has debited already: its key replays
        available = (await wallet_balance(engine, row.user_id)).available
        if available < row.amount_kopecks:
            return RefundOutcome("insufficient", **base, available_kopecks=available)
        if not await _set(engine, row, REFUNDING, from_=(CREDITED,), refund_attempt=attempt):
            return RefundOutcome("not_refundable", **base, detail="changed meanwhile")
    meta = {"payment_id": row.id, "admin_id": admin_id}
    try:
        await ledger.debit(key, row.user_id, row.amount_kopecks, Operator.TOPUPS_STARS, reason="refund", meta=meta)
    except InsufficientFunds as exc:  # spent between our check and the debit: this key stays refused
        await _set(engine, row, CREDITED, from_=(REFUNDING,), refund_attempt=attempt + 1)
        return RefundOutcome("insufficient", **base, available_kopecks=exc.available)
    try:
        await deps.bot.refund_star_payment(row.user_id, charge_id)
    except Exception as exc:
        if "CHARGE_ALREADY_REFUNDED" not in str(exc):
            return await _undo(deps, row, attempt, admin_id=admin_id, reason=reason, error=str(exc))
        # Telegram had refunded the Stars already (on its own): the debit stands, the payment is refunded.
        detail = "CHARGE_ALREADY_REFUNDED"
    else:
        detail = ""
    refund = {"by": "admin", "admin_id": admin_id, "key": key, "reason": reason, "at": utcnow().isoformat()}
    await _set(engine, row, REFUNDED, from_=(REFUNDING, REFUNDED), refund=refund)
    after = {"status": REFUNDED, "debited_kopecks": row.amount_kopecks, "telegram": detail or "ok"}
    await _audit(engine, admin_id, "payment.refund", row, after, reason)
    return RefundOutcome("refunded", **base, detail=detail)


async def _undo(deps: RefundDeps, row: Any, attempt: int, *, admin_id: int, reason: str, error: str) -> RefundOutcome:
    """Telegram refused: put the money back, make the payment refundable again (with a fresh debit key)."""
    key = refund_key(row.external_id, attempt)
    await deps.ledger.credit(
        f"{key}:undo", row.user_id, row.amount_kopecks, Operator.TOPUPS_STARS, reason="refund failed: money back"
    )
    await _set(deps.engine, row, CREDITED, from_=(REFUNDING,), refund_attempt=attempt + 1)
    await _audit(deps.engine, admin_id, "payment.refund_failed", row, {"status": CREDITED, "error": error}, reason)
    log.warning("refundStarPayment for %s failed, wallet restored: %s", row.external_id, error)
    return RefundOutcome("telegram_error", row.user_id, row.amount_kopecks, row.provider_amount, detail=error[:300])


async def apply_refunded_payment(engine: AsyncEngine, ledger: Ledger, *, user_id: int, charge_id: str) -> RefundOutcome:
    """Telegram says a Stars payment was refunded: debit the wallet once (never below zero).

    After an admin's refund this replays the same debit key (nothing moves twice). When the wallet can't
    cover it, nothing is debited: the payment is marked refunded with the shortfall for an admin.
    """
    row = await _payment(engine, charge_id)
    if row is None or row.user_id != user_id:
        return RefundOutcome("unknown", user_id)
    base = {"user_id": row.user_id, "amount_kopecks": row.amount_kopecks, "stars": row.provider_amount}
    if row.status == REFUNDED:
        return RefundOutcome("already", **base)
    if row.status not in (CREDITED, REFUNDING):
        return RefundOutcome("unknown", **base, detail=row.status)
    attempt = _attempt(row)
    key = refund_key(charge_id, attempt)
    if row.status == CREDITED:
        available = (await wallet_balance(engine, row.user_id)).available
        if available < row.amount_kopecks:
            refund = {"by": "telegram", "unrecovered_kopecks": row.amount_kopecks, "at": utcnow().isoformat()}
            await _set(engine, row, REFUNDED, from_=(CREDITED,), refund=refund)
            return RefundOutcome("short", **base, available_kopecks=available)
    try:
        await ledger.debit(key, row.user_id, row.amount_kopecks, Operator.TOPUPS_STARS, reason="refund by Telegram")
    except InsufficientFunds as exc:
        refund = {"by": "telegram", "unrecovered_kopecks": row.amount_kopecks, "at": utcnow().isoformat()}
        await _set(engine, row, REFUNDED, from_=(CREDITED, REFUNDING), refund=refund, refund_attempt=attempt + 1)
        return RefundOutcome("short", **base, available_kopecks=exc.available)
    if row.status == CREDITED:
        refund = {"by": "telegram", "key": key, "at": utcnow().isoformat()}
        await _set(engine, row, REFUNDED, from_=(CREDITED, REFUNDING), refund=refund)
    return RefundOutcome("debited", **base)
