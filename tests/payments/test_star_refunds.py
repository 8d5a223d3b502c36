"""Stars refunds: the wallet is debited once whoever refunds first, never below zero, and restored when
Telegram refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.repo.users import upsert_user
from aistudio.db.tables import admin_audit, ledger_transfers, payments
from aistudio.payments.refunds import apply_refunded_payment, refund_star_payment
from aistudio.payments.topups import TopupService

USER, ADMIN = 4201, 1


class TelegramSays(Exception):
    pass


@dataclass
class FakeBot:
    """Records refundStarPayment calls; raises the queued errors first."""

    errors: list[str] = field(default_factory=list)
    calls: list[tuple[int, str]] = field(default_factory=list)

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> bool:
        self.calls.append((user_id, telegram_payment_charge_id))
        if self.errors:
            raise TelegramSays(f"Telegram server says - Bad Request: {self.errors.pop(0)}")
        return True


@dataclass
class Deps:
    engine: AsyncEngine
    ledger: Ledger
    bot: FakeBot


@pytest.fixture
async def deps(engine: AsyncEngine) -> Deps:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    async with engine.begin() as conn:
        await upsert_user(conn, USER, first_name="Anna")
    await ledger.accounts.open_wallet(USER)
    topups = TopupService(engine, ledger)
    await topups.credit(
        user_id=USER, provider="stars", external_id="ch-1", amount_kopecks=130_00, currency="XTR", provider_amount=100
    )
    return Deps(engine, ledger, FakeBot())


async def status(deps: Deps) -> tuple[str, dict[str, Any]]:
    async with deps.engine.connect() as conn:
        row = (await conn.execute(sa.select(payments.c.status, payments.c.meta))).one()
    return row.status, row.meta or {}


async def debits(deps: Deps) -> list[str]:
    async with deps.engine.connect() as conn:
        keys = await conn.execute(
            sa.select(ledger_transfers.c.idempotency_key).where(ledger_transfers.c.idempotency_key.like("refund:%"))
        )
    return sorted(keys.scalars())


async def available(deps: Deps) -> int:
    return (await wallet_balance(deps.engine, USER)).available


async def test_refund_debits_calls_telegram_once_marks_refunded_and_audits(deps: Deps) -> None:
    outcome = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")
    repeat = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked again")
    update = await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER, charge_id="ch-1")

    async with deps.engine.connect() as conn:
        audits = (await conn.execute(sa.select(admin_audit))).all()
    assert (outcome.status, outcome.amount_kopecks, outcome.stars) == ("refunded", 130_00, 100)
    assert repeat.status == "already_refunded" and update.status == "already"
    assert deps.bot.calls == [(USER, "ch-1")]
    assert (await status(deps))[0] == "refunded" and await debits(deps) == ["refund:stars:ch-1"]
    assert [(a.action, a.admin_id, a.reason) for a in audits] == [("payment.refund", ADMIN, "asked")]
    assert await available(deps) == 0 and (await check_invariants(deps.engine)).ok


async def test_refund_larger_than_the_spendable_balance_is_refused_before_anything_moves(deps: Deps) -> None:
    await deps.ledger.hold("gen:1:hold", USER, 1_00)  # a running generation reserves 1 ₽

    outcome = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")

    assert (outcome.status, outcome.available_kopecks) == ("insufficient", 129_00)
    assert deps.bot.calls == [] and await debits(deps) == []
    assert (await status(deps))[0] == "credited"
    assert (await check_invariants(deps.engine)).ok


async def test_telegram_refusing_puts_the_money_back_and_a_later_attempt_uses_a_fresh_key(deps: Deps) -> None:
    deps.bot.errors.append("CHARGE_NOT_FOUND")

    failed = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")
    restored = await available(deps)
    retried = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")

    assert failed.status == "telegram_error" and "CHARGE_NOT_FOUND" in failed.detail
    assert restored == 130_00
    assert retried.status == "refunded" and len(deps.bot.calls) == 2
    assert await debits(deps) == ["refund:stars:ch-1", "refund:stars:ch-1:1", "refund:stars:ch-1:undo"]
    assert await available(deps) == 0 and (await status(deps))[0] == "refunded"
    assert (await check_invariants(deps.engine)).ok


async def test_charge_already_refunded_by_telegram_keeps_the_debit(deps: Deps) -> None:
    deps.bot.errors.append("CHARGE_ALREADY_REFUNDED")

    outcome = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")
    late_update = await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER, charge_id="ch-1")

    assert (outcome.status, outcome.detail) == ("refunded", "CHARGE_ALREADY_REFUNDED")
    assert late_update.status == "already" and await debits(deps) == ["refund:stars:ch-1"]
    assert await available(deps) == 0 and (await check_invariants(deps.engine)).ok


async def test_telegram_refund_first_then_admin_never_debits_twice(deps: Deps) -> None:
    first = await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER, charge_id="ch-1")
    admin = await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")
    stranger = await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER + 1, charge_id="ch-1")

    assert first.status == "debited" and admin.status == "already_refunded" and stranger.status == "unknown"
    assert deps.bot.calls == [] and await debits(deps) == ["refund:stars:ch-1"]
    assert (await check_invariants(deps.engine)).ok


async def test_telegram_refund_the_wallet_cannot_cover_leaves_it_untouched(deps: Deps) -> None:
    await deps.ledger.debit("spent", USER, 100_00, Operator.REVENUE)

    outcome = await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER, charge_id="ch-1")
    state, meta = await status(deps)

    assert (outcome.status, outcome.available_kopecks) == ("short", 30_00)
    assert state == "refunded" and meta["refund"]["unrecovered_kopecks"] == 130_00
    assert await debits(deps) == [] and await available(deps) == 30_00
    assert (await check_invariants(deps.engine)).ok


async def test_unknown_charge_is_not_found(deps: Deps) -> None:
    assert (await refund_star_payment(deps, "nope", admin_id=ADMIN, reason="x")).status == "not_found"
    assert deps.bot.calls == []
