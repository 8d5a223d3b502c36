"""Stars refunds: the wallet is debited once whoever refunds first, never below zero, restored only when
Telegram definitely refuses; the promo bonus and the referrer's reward go back with the top-up; a payment that
was never credited is refunded without touching a wallet. The ledger invariant is checked after each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError
from aiogram.methods import RefundStarPayment
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.repo.users import upsert_user
from aistudio.db.sql import utcnow
from aistudio.db.tables import admin_audit, ledger_transfers, payments, referral_rewards
from aistudio.growth.promo import promo_bonus_key
from aistudio.growth.referrals import referral_key
from aistudio.payments.checkout import PaymentFacts, record_rejected
from aistudio.payments.refunds import apply_refunded_payment, preview_refund, refund_star_payment
from aistudio.payments.topups import TopupService

USER, ADMIN, REFERRER = 4201, 1, 4299
Step = Callable[[], Awaitable[Any]]


def bad_request(what: str) -> TelegramBadRequest:
    method = RefundStarPayment(user_id=USER, telegram_payment_charge_id="ch-1")
    return TelegramBadRequest(method=method, message=f"Bad Request: {what}")


def timeout() -> TelegramNetworkError:
    method = RefundStarPayment(user_id=USER, telegram_payment_charge_id="ch-1")
    return TelegramNetworkError(method=method, message="Request timeout error")


@dataclass
class FakeBot:
    """Records refundStarPayment calls. Each call takes the next scripted step: an error name (a definite
    400 refusal), an exception to raise, or a coroutine to run first (something happening meanwhile) with what
    to raise after it; no step left means Telegram refunds."""

    errors: list[Any] = field(default_factory=list)
    calls: list[tuple[int, str]] = field(default_factory=list)

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> bool:
        self.calls.append((user_id, telegram_payment_charge_id))
        if not self.errors:
            return True
        step = self.errors.pop(0)
        if isinstance(step, str):
            raise bad_request(step)
        if isinstance(step, tuple):
            meanwhile, then = step
            await meanwhile()
            if then is not None:
                raise then
            return True
        raise step


class Crash(Exception):
    """The process dies here."""


class CrashingLedger(Ledger):
    """Dies once right after crediting a give-back (`...:undo`), before anything else is written."""

    crash_after_undo = False

    async def credit(self, key: str, *args: Any, **kwargs: Any) -> Any:
        result = await super().credit(key, *args, **kwargs)
        if key.endswith(":undo") and self.crash_after_undo:
            self.crash_after_undo = False
            raise Crash(key)
        return result


@dataclass
class Deps:
    engine: AsyncEngine
    ledger: CrashingLedger
    bot: FakeBot
    payment_id: int = 0


@pytest.fixture
async def deps(engine: AsyncEngine) -> Deps:
    ledger = CrashingLedger(engine)
    await ledger.accounts.ensure_operator_accounts()
    async with engine.begin() as conn:
        await upsert_user(conn, USER, first_name="Anna")
        await upsert_user(conn, REFERRER, first_name="Boris")
    await ledger.accounts.open_wallet(USER)
    await ledger.accounts.open_wallet(REFERRER)
    topups = TopupService(engine, ledger)
    outcome = await topups.credit(
        user_id=USER, provider="stars", external_id="ch-1", amount_kopecks=130_00, currency="XTR", provider_amount=100
    )
    return Deps(engine, ledger, FakeBot(), outcome.payment_id)


async def with_bonus_and_referral(deps: Deps, *, bonus: int = 13_00, reward: int = 6_50) -> None:
    """What the top-up hooks pay: a 10 % promo bonus to the payer, 5 % to the referrer."""
    await deps.ledger.credit(promo_bonus_key(deps.payment_id), USER, bonus, Operator.PROMO)
    async with deps.engine.begin() as conn:
        await conn.execute(
            sa.insert(referral_rewards).values(
                payment_id=deps.payment_id, referrer_id=REFERRER, referee_id=USER, amount_kopecks=reward,
                created_at=utcnow(),
            )
        )  # fmt: skip
    await deps.ledger.credit(referral_key(deps.payment_id), REFERRER, reward, Operator.REFERRAL)


async def refund(deps: Deps) -> Any:
    return await refund_star_payment(deps, "ch-1", admin_id=ADMIN, reason="asked")


async def telegram_update(deps: Deps) -> Any:
    return await apply_refunded_payment(deps.engine, deps.ledger, user_id=USER, charge_id="ch-1")


async def status(deps: Deps) -> tuple[str, dict[str, Any]]:
    async with deps.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(payments.c.status, payments.c.meta).where(payments.c.external_id == "ch-1"))
        ).one()
    return row.status, row.meta or {}


async def debits(deps: Deps) -> list[str]:
    """Keys of the refund's ledger transfers (debits and give-backs)."""
    async with deps.engine.connect() as conn:
        keys = await conn.execute(
            sa.select(ledger_transfers.c.idempotency_key).where(ledger_transfers.c.idempotency_key.like("refund%"))
        )
    return sorted(keys.scalars())


async def available(deps: Deps, user: int = USER) -> int:
    return (await wallet_balance(deps.engine, user)).available


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
    assert (await status(deps))[1]["refund_attempt"] == 1
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


# --- finding: the "refunding" state could not tell "debited" from "debited then put back" -------------------


async def test_a_crash_after_giving_the_money_back_then_a_retry_debits_again_before_refunding(deps: Deps) -> None:
    deps.bot.errors.append("CHARGE_NOT_FOUND")  # a definite refusal: the money goes back...
    deps.ledger.crash_after_undo = True  # ...and the process dies right after crediting it

    with pytest.raises(Crash):
        await refund(deps)
    crashed_in, _ = await status(deps)
    retried = await refund(deps)  # the admin tries again; Telegram refunds this time

    assert crashed_in == "undoing"
    assert retried.status == "refunded" and len(deps.bot.calls) == 2
    assert await available(deps) == 0  # the Stars went back, so the roubles did too
    assert await debits(deps) == ["refund:stars:ch-1", "refund:stars:ch-1:1", "refund:stars:ch-1:undo"]
    assert (await status(deps))[0] == "refunded"
    assert (await check_invariants(deps.engine)).ok


async def test_a_timeout_is_not_a_refusal_the_telegram_update_settles_it_and_nothing_is_put_back(
    deps: Deps,
) -> None:
    seen: list[Any] = []

    async def telegram_refunds_and_tells_us() -> None:  # Telegram did refund; its update arrives first
        seen.append(await telegram_update(deps))

    deps.bot.errors.append((telegram_refunds_and_tells_us, timeout()))

    outcome = await refund(deps)
    late_retry = await refund(deps)

    assert outcome.status == "unknown" and "timeout" in outcome.detail
    assert seen[0].status == "debited" and late_retry.status == "already_refunded"
    assert await available(deps) == 0 and await debits(deps) == ["refund:stars:ch-1"]
    assert (await status(deps))[0] == "refunded"
    assert (await check_invariants(deps.engine)).ok


async def test_a_timeout_leaves_the_payment_refunding_until_telegram_or_a_retry_answers(deps: Deps) -> None:
    deps.bot.errors.append(timeout())

    lost = await refund(deps)
    state_after_timeout, _ = await status(deps)
    retry = await refund(deps)  # resumes: the debit replays, Telegram answers this time

    assert lost.status == "unknown" and state_after_timeout == "refunding"
    assert await available(deps) == 0  # not put back: the refund may well have happened
    assert retry.status == "refunded" and await debits(deps) == ["refund:stars:ch-1"]
    assert (await telegram_update(deps)).status == "already"
    assert (await check_invariants(deps.engine)).ok


async def test_two_admins_one_succeeds_the_other_gets_a_transient_error_money_stays_taken(deps: Deps) -> None:
    second: list[Any] = []

    async def admin_b_refunds_meanwhile() -> None:
        second.append(await refund_star_payment(deps, "ch-1", admin_id=ADMIN + 1, reason="B"))

    deps.bot.errors.append((admin_b_refunds_meanwhile, TelegramNetworkError(method=RefundStarPayment(
        user_id=USER, telegram_payment_charge_id="ch-1"), message="Bad Gateway")))  # fmt: skip

    first = await refund(deps)

    assert second[0].status == "refunded" and first.status == "unknown"
    assert await available(deps) == 0 and await debits(deps) == ["refund:stars:ch-1"]
    assert (await status(deps))[0] == "refunded"
    assert (await check_invariants(deps.engine)).ok


async def test_two_admins_a_refusal_after_the_other_succeeded_puts_nothing_back(deps: Deps) -> None:
    second: list[Any] = []

    async def admin_b_refunds_meanwhile() -> None:
        second.append(await refund_star_payment(deps, "ch-1", admin_id=ADMIN + 1, reason="B"))

    deps.bot.errors.append((admin_b_refunds_meanwhile, bad_request("REFUND_FAILED")))

    first = await refund(deps)

    assert second[0].status == "refunded" and first.status == "not_refundable"
    assert await available(deps) == 0 and await debits(deps) == ["refund:stars:ch-1"]
    assert (await check_invariants(deps.engine)).ok


# --- finding: a refund left the promo bonus and the referrer's reward in place ------------------------------


async def test_refund_takes_back_the_bonus_and_the_referral_reward_each_under_its_own_key(deps: Deps) -> None:
    await with_bonus_and_referral(deps)

    preview = await preview_refund(deps.engine, "ch-1")
    outcome = await refund(deps)

    async with deps.engine.connect() as conn:
        [audit] = (await conn.execute(sa.select(admin_audit.c.after))).scalars().all()
    pid = deps.payment_id
    assert (preview.amount_kopecks, preview.bonus_kopecks, preview.referral_kopecks) == (130_00, 13_00, 6_50)
    assert preview.available_kopecks == 143_00 and preview.referrer_id == REFERRER
    assert outcome.status == "refunded" and outcome.total_kopecks == 143_00
    assert outcome.referral_clawed_kopecks == 6_50 and outcome.referral_unrecovered_kopecks == 0
    assert await available(deps) == 0 and await available(deps, REFERRER) == 0
    assert await debits(deps) == sorted(["refund:stars:ch-1", f"refund-bonus:{pid}", f"refund-referral:{pid}"])
    assert (audit["bonus_kopecks"], audit["referral_clawed_kopecks"], audit["referral_unrecovered_kopecks"]) == (
        13_00, 6_50, 0
    )  # fmt: skip
    assert (await telegram_update(deps)).status == "already"
    assert (await check_invariants(deps.engine)).ok


async def test_refund_is_refused_when_the_wallet_covers_the_top_up_but_not_its_bonus(deps: Deps) -> None:
    await with_bonus_and_referral(deps)
    await deps.ledger.debit("spent", USER, 5_00, Operator.REVENUE)  # 138 ₽ left of 143 ₽

    outcome = await refund(deps)

    assert (outcome.status, outcome.available_kopecks) == ("insufficient", 138_00)
    assert (outcome.amount_kopecks, outcome.bonus_kopecks) == (130_00, 13_00)
    assert deps.bot.calls == [] and await debits(deps) == [] and (await status(deps))[0] == "credited"
    assert (await check_invariants(deps.engine)).ok


async def test_referral_reward_partly_spent_is_clawed_back_as_far_as_possible_and_the_rest_reported(
    deps: Deps,
) -> None:
    await with_bonus_and_referral(deps)
    await deps.ledger.debit("referrer-spent", REFERRER, 4_00, Operator.REVENUE)  # 2.50 ₽ left of 6.50 ₽

    outcome = await refund(deps)

    async with deps.engine.connect() as conn:
        [audit] = (await conn.execute(sa.select(admin_audit.c.after))).scalars().all()
    assert outcome.status == "refunded"
    assert (outcome.referral_clawed_kopecks, outcome.referral_unrecovered_kopecks) == (2_50, 4_00)
    assert audit["referral_unrecovered_kopecks"] == 4_00 and audit["referrer_id"] == REFERRER
    assert await available(deps, REFERRER) == 0 and await available(deps) == 0
    assert (await check_invariants(deps.engine)).ok


async def test_telegram_refund_takes_back_the_bonus_and_the_reward_too(deps: Deps) -> None:
    await with_bonus_and_referral(deps)

    outcome = await telegram_update(deps)

    assert outcome.status == "debited" and (outcome.bonus_kopecks, outcome.referral_clawed_kopecks) == (13_00, 6_50)
    assert await available(deps) == 0 and await available(deps, REFERRER) == 0
    assert (await check_invariants(deps.engine)).ok


# --- finding: a rejected (never credited) payment could not be refunded ------------------------------------


async def test_a_rejected_payment_is_refunded_without_touching_any_wallet(deps: Deps) -> None:
    facts = PaymentFacts(user_id=USER, currency="XTR", total_amount=77, payload="forged", charge_id="ch-rej")
    await record_rejected(deps.engine, "stars", facts, {"reason": "unknown"})
    before = await available(deps)

    outcome = await refund_star_payment(deps, "ch-rej", admin_id=ADMIN, reason="not ours")
    again = await refund_star_payment(deps, "ch-rej", admin_id=ADMIN, reason="not ours")

    async with deps.engine.connect() as conn:
        row = (await conn.execute(sa.select(payments).where(payments.c.external_id == "ch-rej"))).one()
        audits = (await conn.execute(sa.select(admin_audit.c.action, admin_audit.c.target))).all()
    assert outcome.status == "refunded" and not outcome.credited and outcome.amount_kopecks == 0
    assert again.status == "already_refunded"
    assert deps.bot.calls == [(USER, "ch-rej")] and row.status == "refunded"
    assert audits == [("payment.refund", "payment:stars:ch-rej")]
    assert await available(deps) == before and await debits(deps) == []
    assert (await check_invariants(deps.engine)).ok
