"""Referrals: bound once (never to oneself, never re-bound), a reward per paid top-up, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, referral_rewards, users
from aistudio.growth.referrals import NEWCOMER_WINDOW, Referrals, ReferralStats, referral_key, reward_for
from aistudio.payments.topups import TopupCredited, TopupService
from tests.races import open_connections
from tests.support import make_user


async def available(engine: AsyncEngine, user: int) -> int:
    return (await wallet_balance(engine, user)).available


async def transfers_with_key(engine: AsyncEngine, key: str) -> int:
    """Ledger transfers under one idempotency key (or a LIKE pattern with %)."""
    column = ledger_transfers.c.idempotency_key
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(column.like(key) if "%" in key else column == key)
        return int((await conn.execute(query)).scalar_one())


async def test_code_is_stable_and_made_for_users_without_one(engine: AsyncEngine, ledger: Ledger) -> None:
    program = Referrals(engine, ledger, Decimal(10))
    user = await make_user(engine, ledger, 1)
    async with engine.begin() as conn:  # registered before referrals existed
        await conn.execute(sa.update(users).where(users.c.id == user).values(referral_code=None))

    code = await program.code_of(user)

    assert len(code) >= 8 and code == await program.code_of(user)
    assert await program.owner_of(code) == user


async def registered_long_ago(engine: AsyncEngine, user: int) -> None:
    async with engine.begin() as conn:
        since = utcnow() - NEWCOMER_WINDOW - timedelta(minutes=1)
        await conn.execute(sa.update(users).where(users.c.id == user).values(created_at=since))


async def test_newcomer_is_bound_once_and_never_to_themselves(engine: AsyncEngine, ledger: Ledger) -> None:
    program = Referrals(engine, ledger, Decimal(10))
    topups = TopupService(engine, ledger)
    alice, bob, carol, dave, erin = [await make_user(engine, ledger, i) for i in (1, 2, 3, 4, 5)]
    alice_code, carol_code = await program.code_of(alice), await program.code_of(carol)
    await registered_long_ago(engine, dave)
    await topups.credit(user_id=erin, provider="stars", external_id="e1", amount_kopecks=100, currency="XTR",
                        provider_amount=1)  # fmt: skip

    assert await program.bind(bob, alice_code) == alice
    assert await program.bind(bob, carol_code) is None  # never re-bound
    assert await program.bind(carol, carol_code) is None  # never to oneself
    assert await program.bind(dave, alice_code) is None  # registered long before: not a newcomer
    assert await program.bind(erin, alice_code) is None  # already topped up: too late to be invited
    assert await program.bind(carol, "nosuchcode") is None
    async with engine.connect() as conn:
        bound = dict((await conn.execute(sa.select(users.c.id, users.c.referred_by))).all())
    assert bound == {alice: None, bob: alice, carol: None, dave: None, erin: None}
    assert (await program.stats(alice)).invited == 1


async def test_referrer_earns_a_share_of_each_paid_top_up_once(engine: AsyncEngine, ledger: Ledger) -> None:
    told: list[tuple[int, int]] = []

    async def notify(referrer: int, amount: int) -> None:
        told.append((referrer, amount))

    program = Referrals(engine, ledger, Decimal("7.5"), notify=notify)
    topups = TopupService(engine, ledger, hooks=[program.reward_topup])
    alice, bob = await make_user(engine, ledger, 1), await make_user(engine, ledger, 2)
    await program.bind(bob, await program.code_of(alice))

    first = await topups.credit(user_id=bob, provider="stars", external_id="c1", amount_kopecks=10_000,
                                currency="XTR", provider_amount=50)  # fmt: skip
    await topups.credit(
        user_id=bob, provider="stars", external_id="c1", amount_kopecks=10_000, currency="XTR", provider_amount=50
    )  # fmt: skip  (a duplicate successful_payment)
    event = TopupCredited(first.payment_id, bob, "stars", 10_000, "c1")
    await open_connections(engine, 3)
    await asyncio.gather(*(program.reward_topup(event) for _ in range(3)))  # the hook re-run by settle, at once
    await topups.credit(user_id=bob, provider="yookassa", external_id="y1", amount_kopecks=20_001,
                        currency="RUB", provider_amount=20_001)  # fmt: skip

    assert await available(engine, alice) == 750 + 1_500
    assert await transfers_with_key(engine, referral_key(first.payment_id)) == 1
    assert await transfers_with_key(engine, "referral:%") == 2
    assert told == [(alice, 750), (alice, 1_500)]
    assert await program.stats(alice) == ReferralStats(invited=1, earned_kopecks=2_250)
    assert (await check_invariants(engine)).ok


async def test_no_reward_without_a_referrer_and_a_failed_notice_changes_nothing(
    engine: AsyncEngine, ledger: Ledger
) -> None:
    async def broken(referrer: int, amount: int) -> None:
        raise RuntimeError("Telegram is down")

    program = Referrals(engine, ledger, Decimal(10), notify=broken)
    topups = TopupService(engine, ledger, hooks=[program.reward_topup])
    alice, bob, loner = [await make_user(engine, ledger, i) for i in (1, 2, 3)]
    await program.bind(bob, await program.code_of(alice))

    await topups.credit(user_id=loner, provider="manual", external_id="m1", amount_kopecks=5_000,
                        currency="RUB", provider_amount=5_000)  # fmt: skip
    await topups.credit(user_id=bob, provider="manual", external_id="m2", amount_kopecks=5_000,
                        currency="RUB", provider_amount=5_000)  # fmt: skip

    async with engine.connect() as conn:
        paid = sa.select(referral_rewards.c.referrer_id, referral_rewards.c.amount_kopecks)
        rewards = (await conn.execute(paid)).all()
        unsettled = (await conn.execute(sa.text("SELECT count(*) FROM payments WHERE settled_at IS NULL"))).scalar()
    assert rewards == [(alice, 500)] and unsettled == 0
    assert await available(engine, alice) == 500
    assert (await check_invariants(engine)).ok


def test_reward_rounds_down_to_whole_kopecks() -> None:
    assert reward_for(999, Decimal(10)) == 99
    assert reward_for(5, Decimal(10)) == 0
