"""Refunds of Stars payments: by an admin (`refundStarPayment`) and by Telegram (`refunded_payment`).

A refund takes back what the payment gave: the top-up and the promo bonus paid on it from the payer's wallet
(both or nothing: the spendable balance must cover the sum), and the referrer's reward from the referrer's
wallet, as much as it can spend (never below zero; the rest is reported and audited).

States of a Stars payment (`payments.status`; n = `meta.refund_attempt`, every move a guarded
compare-and-set on (status, n), so of two racing moves exactly one wins):

| from          | event                                                  | to           | money                       |
|---------------|--------------------------------------------------------|--------------|-----------------------------|
| credited(n)   | admin refund, wallet covers top-up + bonus             | refunding(n) | debit K_n, B_n              |
| refunding(n)  | a debit refused (spent meanwhile)                      | undoing(n)   | —                           |
| refunding(n)  | Telegram refunded (ok, CHARGE_ALREADY_REFUNDED, or its | refunded     | debit K_n, B_n (replays),   |
|               | `refunded_payment` update)                             |              | claw back R                 |
| refunding(n)  | Telegram DEFINITELY refused (400 other than above)     | undoing(n)   | —                           |
| refunding(n)  | network error, timeout, 5xx, 429                       | refunding(n) | none: outcome "unknown"     |
| undoing(n)    | whoever finds it (this call, a retry, an update)       | credited(n+1)| credit K_n:undo, B_n:undo   |
|               |                                                        |              | (only what K_n, B_n posted) |
| credited(n)   | `refunded_payment` (Telegram refunded on its own)      | refunded     | debit K_n, B_n or, if the   |
|               |                                                        |              | wallet is short, nothing    |
| rejected      | admin refund, Telegram ok                              | refunded     | none (nothing was credited) |
| rejected      | `refunded_payment`                                     | refunded     | none                        |

Keys: K_n = `refund:stars:<charge>[:n]`, B_n = `refund-bonus:<payment id>[:n]`, R = `refund-referral:<payment
id>`. Money goes back (undoing) only after the move to `undoing` succeeded, and only on a definite refusal: a
timeout may hide a refund Telegram made, which its `refunded_payment` update (or the admin's retry, answered
CHARGE_ALREADY_REFUNDED) then settles. A retry after a refusal uses attempt n+1's fresh keys, because a ledger
key's outcome never changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from aiogram.exceptions import TelegramBadRequest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.errors import InsufficientFunds
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import admin_audit
from aistudio.payments.refund_state import (
    CREDITED,
    REFUNDED,
    REFUNDING,
    REJECTED,
    UNDOING,
    TakeBack,
    attempt_of,
    claw_back_referral,
    debit_take_back,
    finish_undo,
    load_payment,
    move,
    posted_amount,
    refund_key,
    take_back_of,
)

__all__ = ["RefundOutcome", "apply_refunded_payment", "preview_refund", "refund_key", "refund_star_payment"]

log = logging.getLogger(__name__)
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class StarRefunder(Protocol):
    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> Any: ...


class RefundDeps(Protocol):
    """What a refund needs; `BotServices` has all three."""

    engine: AsyncEngine
    ledger: Ledger
    bot: StarRefunder


@dataclass(frozen=True)
class RefundOutcome:
    """`status` for an admin's refund: preview | refunded | not_found | not_refundable | already_refunded |
    insufficient | telegram_error | unknown (Telegram's answer was lost; its update or a retry settles it).

    For `refunded_payment` updates: debited | already | short | nothing_credited | unknown.
    """

    status: str
    user_id: int | None = None
    amount_kopecks: int = 0  # the top-up
    stars: int = 0
    available_kopecks: int | None = None  # the payer's spendable money (a preview, a refusal)
    detail: str = ""  # Telegram's error, for the admin
    bonus_kopecks: int = 0  # the promo bonus taken back with the top-up
    referrer_id: int | None = None
    referral_kopecks: int = 0  # the referrer's reward for this payment
    referral_clawed_kopecks: int = 0  # of it, taken back
    unrecovered_kopecks: int = 0  # the payer's part that could not be taken back (Telegram refunded anyway)
    credited: bool = True  # False for a payment that was never credited (rejected): nothing to take back

    @property
    def ok(self) -> bool:
        return self.status in ("refunded", "debited", "already", "already_refunded", "nothing_credited")

    @property
    def total_kopecks(self) -> int:
        return self.amount_kopecks + self.bonus_kopecks

    @property
    def referral_unrecovered_kopecks(self) -> int:
        return self.referral_kopecks - self.referral_clawed_kopecks


def _base(row: Any, take: TakeBack | None = None) -> dict[str, Any]:
    credited = row.status != REJECTED
    base: dict[str, Any] = {
        "user_id": row.user_id,
        "amount_kopecks": row.amount_kopecks if credited else 0,
        "stars": row.provider_amount,
        "credited": credited,
    }
    if take is not None:
        base.update(bonus_kopecks=take.bonus, referrer_id=take.referrer_id, referral_kopecks=take.referral)
    return base


def telegram_verdict(exc: BaseException) -> str:
    """refunded | refused | unknown. Only a 400 is a definite answer; a timeout may hide a refund made."""
    if isinstance(exc, TelegramBadRequest):
        return "refunded" if ALREADY_REFUNDED in str(exc) else "refused"
    return "unknown"


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


async def preview_refund(engine: AsyncEngine, charge_id: str) -> RefundOutcome:
    """What a refund of this payment would take back now, and what the payer can spend (nothing moves)."""
    row = await load_payment(engine, charge_id)
    if row is None:
        return RefundOutcome("not_found")
    if row.status == REJECTED:
        return RefundOutcome("preview", **_base(row), available_kopecks=0)
    take = await take_back_of(engine, row)
    available = (await wallet_balance(engine, row.user_id)).available
    return RefundOutcome("preview", **_base(row, take), available_kopecks=available, detail=row.status)


async def refund_star_payment(deps: RefundDeps, charge_id: str, *, admin_id: int, reason: str) -> RefundOutcome:
    """An admin refunds a Stars payment: take back what it gave, ask Telegram, mark it refunded, audit.

    Refused (nothing moved, Telegram not called) when the payment is unknown, already refunded, or the payer
    can't cover the top-up plus its bonus from their spendable balance. A payment that was never credited
    (rejected) is refunded without touching any wallet.
    """
    engine, ledger = deps.engine, deps.ledger
    row = await load_payment(engine, charge_id)
    if row is None:
        return RefundOutcome("not_found")
    if row.status == REJECTED:
        return await _refund_uncredited(deps, row, admin_id=admin_id, reason=reason)
    if row.status == UNDOING:  # an earlier refusal's give-back was interrupted: finish it first
        await finish_undo(engine, ledger, row)
        row = await load_payment(engine, charge_id)
    if row.status == REFUNDED:
        return RefundOutcome("already_refunded", **_base(row))
    if row.status not in (CREDITED, REFUNDING):
        return RefundOutcome("not_refundable", **_base(row), detail=row.status)
    take = await take_back_of(engine, row)
    base = _base(row, take)
    attempt = attempt_of(row)
    before = row  # for the audit
    if row.status == CREDITED:
        available = (await wallet_balance(engine, row.user_id)).available
        if available < take.total:
            return RefundOutcome("insufficient", **base, available_kopecks=available)
        started = {"by": "admin", "admin_id": admin_id, "reason": reason}
        if not await move(engine, row, from_=CREDITED, to=REFUNDING, refund=started):
            return RefundOutcome("not_refundable", **base, detail="changed meanwhile")
        row = await load_payment(engine, charge_id)
    meta = {"payment_id": row.id, "admin_id": admin_id}
    try:
        await debit_take_back(ledger, row, attempt, take, reason="refund", meta=meta)
    except InsufficientFunds as exc:  # spent between our check and the debit: give back what was taken
        if await move(engine, row, from_=REFUNDING, to=UNDOING):
            await finish_undo(engine, ledger, await load_payment(engine, charge_id))
        return RefundOutcome("insufficient", **base, available_kopecks=exc.available)
    try:
        await deps.bot.refund_star_payment(row.user_id, charge_id)
    except Exception as exc:
        verdict = telegram_verdict(exc)
        if verdict == "refused":
            return await _refused(deps, row, before, base, admin_id=admin_id, reason=reason, error=str(exc))
        if verdict == "unknown":
            log.warning("refundStarPayment for %s: no definite answer (%r); left refunding", charge_id, exc)
            after = {"status": REFUNDING, "telegram": "no answer", "error": str(exc)[:300]}
            await _audit(engine, admin_id, "payment.refund_unknown", before, after, reason)
            return RefundOutcome("unknown", **base, detail=str(exc)[:300])
        detail = ALREADY_REFUNDED
    else:
        detail = ""
    by = {"by": "admin", "admin_id": admin_id, "reason": reason}
    settled = await settle_telegram_refund(engine, ledger, await load_payment(engine, charge_id), by=by)
    after = {
        "status": REFUNDED,
        "debited_kopecks": take.topup,
        "bonus_kopecks": take.bonus,
        "referrer_id": take.referrer_id,
        "referral_clawed_kopecks": settled.referral_clawed_kopecks,
        "referral_unrecovered_kopecks": take.referral - settled.referral_clawed_kopecks,
        "unrecovered_kopecks": settled.unrecovered_kopecks,
        "telegram": detail or "ok",
    }
    await _audit(engine, admin_id, "payment.refund", before, after, reason)
    fields = {**base, "referral_clawed_kopecks": settled.referral_clawed_kopecks}
    return RefundOutcome("refunded", **fields, unrecovered_kopecks=settled.unrecovered_kopecks, detail=detail)


async def _refused(
    deps: RefundDeps, row: Any, before: Any, base: dict[str, Any], *, admin_id: int, reason: str, error: str
) -> RefundOutcome:
    """Telegram definitely refused: move to `undoing` first; only the winner of that move gives money back."""
    if not await move(deps.engine, row, from_=REFUNDING, to=UNDOING):
        current = await load_payment(deps.engine, row.external_id)  # someone else settled it meanwhile
        return RefundOutcome("not_refundable", **base, detail=f"changed meanwhile: {current.status}")
    await finish_undo(deps.engine, deps.ledger, await load_payment(deps.engine, row.external_id))
    await _audit(deps.engine, admin_id, "payment.refund_failed", before, {"status": CREDITED, "error": error}, reason)
    log.warning("refundStarPayment for %s refused, wallet restored: %s", row.external_id, error)
    return RefundOutcome("telegram_error", **base, detail=error[:300])


async def _refund_uncredited(deps: RefundDeps, row: Any, *, admin_id: int, reason: str) -> RefundOutcome:
    """A rejected payment credited nothing: give the Stars back, touch no wallet."""
    base = _base(row)
    try:
        await deps.bot.refund_star_payment(row.user_id, row.external_id)
    except Exception as exc:
        verdict = telegram_verdict(exc)
        if verdict != "refunded":
            action = "payment.refund_failed" if verdict == "refused" else "payment.refund_unknown"
            await _audit(deps.engine, admin_id, action, row, {"status": REJECTED, "error": str(exc)[:300]}, reason)
            return RefundOutcome("telegram_error" if verdict == "refused" else "unknown", **base, detail=str(exc)[:300])
    refund = {"by": "admin", "admin_id": admin_id, "reason": reason, "debited_kopecks": 0, "at": utcnow().isoformat()}
    await move(deps.engine, row, from_=REJECTED, to=REFUNDED, refund=refund)
    await _audit(deps.engine, admin_id, "payment.refund", row, {"status": REFUNDED, "debited_kopecks": 0}, reason)
    return RefundOutcome("refunded", **base)


async def settle_telegram_refund(engine: AsyncEngine, ledger: Ledger, row: Any, *, by: dict[str, Any]) -> RefundOutcome:
    """Telegram HAS refunded this payment: take back what it gave, once, whatever state the payment is in."""
    for _ in range(5):  # each round moves the payment one state on (or finds that someone else did)
        if row.status == REFUNDED:
            return RefundOutcome("already", **_base(row))
        if row.status == REJECTED:
            refund = {**by, "debited_kopecks": 0, "at": utcnow().isoformat()}
            if await move(engine, row, from_=REJECTED, to=REFUNDED, refund=refund):
                return RefundOutcome("nothing_credited", **_base(row))
        elif row.status == UNDOING:
            await finish_undo(engine, ledger, row)
        elif row.status == CREDITED:
            take = await take_back_of(engine, row)
            available = (await wallet_balance(engine, row.user_id)).available
            if available < take.total:  # nothing taken from the payer: the admins sort it out
                clawed = await claw_back_referral(engine, ledger, row, take)
                refund = {**by, "unrecovered_kopecks": take.total, "referral_clawed_kopecks": clawed}
                if await move(engine, row, from_=CREDITED, to=REFUNDED, refund={**refund, "at": utcnow().isoformat()}):
                    base = {**_base(row, take), "referral_clawed_kopecks": clawed}
                    return RefundOutcome("short", **base, available_kopecks=available, unrecovered_kopecks=take.total)
            else:
                await move(engine, row, from_=CREDITED, to=REFUNDING)
        elif row.status == REFUNDING:
            return await _finish_refunding(engine, ledger, row, by=by)
        else:
            return RefundOutcome("unknown", **_base(row), detail=row.status)
        row = await load_payment(engine, row.external_id)
    return RefundOutcome("unknown", **_base(row), detail="changed meanwhile")


async def _finish_refunding(engine: AsyncEngine, ledger: Ledger, row: Any, *, by: dict[str, Any]) -> RefundOutcome:
    take = await take_back_of(engine, row)
    attempt = attempt_of(row)
    unrecovered = 0
    try:  # replays what the admin's refund debited already; debits it when Telegram refunded on its own
        await debit_take_back(ledger, row, attempt, take, reason="refund by Telegram", meta={"payment_id": row.id})
    except InsufficientFunds:
        topup_taken = await posted_amount(engine, refund_key(row.external_id, attempt)) or 0
        unrecovered = take.total - topup_taken
    clawed = await claw_back_referral(engine, ledger, row, take)
    started = (row.meta or {}).get("refund") or {}  # an admin's refund keeps its author when Telegram confirms it
    refund = {
        **by,
        **started,
        "key": refund_key(row.external_id, attempt),
        "unrecovered_kopecks": unrecovered,
        "referral_clawed_kopecks": clawed,
        "at": utcnow().isoformat(),
    }
    base = {**_base(row, take), "referral_clawed_kopecks": clawed, "unrecovered_kopecks": unrecovered}
    if await move(engine, row, from_=REFUNDING, to=REFUNDED, refund=refund):
        return RefundOutcome("short" if unrecovered else "debited", **base)
    current = await load_payment(engine, row.external_id)
    if current.status == REFUNDED:
        return RefundOutcome("already", **base)
    return await settle_telegram_refund(engine, ledger, current, by=by)


async def apply_refunded_payment(engine: AsyncEngine, ledger: Ledger, *, user_id: int, charge_id: str) -> RefundOutcome:
    """Telegram says a Stars payment was refunded: take back what it gave, once (never below zero).

    After an admin's refund this replays the same debit keys (nothing moves twice). When the wallet can't
    cover it, nothing is debited: the payment is marked refunded with the shortfall for an admin.
    """
    row = await load_payment(engine, charge_id)
    if row is None or row.user_id != user_id:
        return RefundOutcome("unknown", user_id)
    return await settle_telegram_refund(engine, ledger, row, by={"by": "telegram"})
