"""Promo codes: limits, once per user, concurrent redemptions, the percentage bonus on the next top-up.

The races (`asyncio.gather`) overlap on PostgreSQL only (SQLite serialises transactions); the `engine` fixture
runs every test on both, and each race asserts the exact number of ledger transfers under its keys.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import admin_audit, ledger_transfers, promo_codes, promo_redemptions
from aistudio.growth.promo import (
    PENDING_CREDIT,
    InvalidPromo,
    PromoCodes,
    PromoKind,
    Refusal,
    promo_bonus_key,
    promo_key,
)
from aistudio.payments.topups import TopupService
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


async def statuses(engine: AsyncEngine, code: str) -> dict[int, str]:
    async with engine.connect() as conn:
        query = sa.select(promo_redemptions.c.user_id, promo_redemptions.c.status).where(
            promo_redemptions.c.code == code
        )
        return dict((await conn.execute(query)).all())


async def uses(engine: AsyncEngine, code: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(promo_codes.c.uses).where(promo_codes.c.code == code))).scalar_one()


async def test_fixed_code_credits_once_per_user(engine: AsyncEngine, ledger: Ledger, promos: PromoCodes) -> None:
    user = await make_user(engine, ledger, 1)
    await promos.create("SPRING", PromoKind.FIXED, amount_kopecks=10_000, created_by=99)

    first = await promos.redeem("spring", user)
    second = await promos.redeem("SPRING", user)

    assert first.ok and first.amount_kopecks == 10_000 and first.code == "SPRING"
    assert second.refusal == Refusal.ALREADY_USED
    assert await available(engine, user) == 10_000
    assert await uses(engine, "SPRING") == 1
    assert (await check_invariants(engine)).ok


async def test_each_refusal_has_its_own_reason(engine: AsyncEngine, ledger: Ledger, promos: PromoCodes) -> None:
    a, b = await make_user(engine, ledger, 1), await make_user(engine, ledger, 2)
    await promos.create("ONCE", PromoKind.FIXED, amount_kopecks=500, max_uses=1)
    await promos.create("OLD", PromoKind.FIXED, amount_kopecks=500, expires_at=utcnow() - timedelta(minutes=1))
    await promos.create("OFF", PromoKind.PERCENT, percent=10)
    await promos.deactivate("off", admin_id=99)

    assert (await promos.redeem("ONCE", a)).ok
    assert (await promos.redeem("ONCE", b)).refusal == Refusal.EXHAUSTED
    assert (await promos.redeem("OLD", a)).refusal == Refusal.EXPIRED
    assert (await promos.redeem("OFF", a)).refusal == Refusal.INACTIVE
    assert (await promos.redeem("NOPE", a)).refusal == Refusal.UNKNOWN
    assert (await promos.redeem("бред!", a)).refusal == Refusal.UNKNOWN
    assert await available(engine, a) == 500 and await available(engine, b) == 0
    assert (await check_invariants(engine)).ok


async def test_concurrent_redemptions_never_exceed_max_uses(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes
) -> None:
    people = [await make_user(engine, ledger, i) for i in range(1, 13)]
    await promos.create("RACE", PromoKind.FIXED, amount_kopecks=1_000, max_uses=3)
    await open_connections(engine, 12)

    outcomes = await asyncio.gather(*(promos.redeem("RACE", u) for u in people))

    winners = [u for u, o in zip(people, outcomes, strict=True) if o.ok]
    assert len(winners) == 3
    assert {o.refusal for o in outcomes if not o.ok} == {Refusal.EXHAUSTED}
    assert await uses(engine, "RACE") == 3
    assert await transfers_with_key(engine, "promo:RACE:%") == 3
    assert [await transfers_with_key(engine, promo_key("RACE", u)) for u in winners] == [1, 1, 1]
    assert await statuses(engine, "RACE") == dict.fromkeys(winners, "credited")
    assert sum([await available(engine, u) for u in people]) == 3_000
    assert (await check_invariants(engine)).ok


async def test_one_user_redeeming_concurrently_gets_it_once(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes
) -> None:
    user = await make_user(engine, ledger, 1)
    await promos.create("TWICE", PromoKind.FIXED, amount_kopecks=700, max_uses=10)
    await open_connections(engine, 6)

    outcomes = await asyncio.gather(*(promos.redeem("TWICE", user) for _ in range(6)))

    assert sum(o.ok for o in outcomes) == 1
    assert {o.refusal for o in outcomes if not o.ok} == {Refusal.ALREADY_USED}
    assert await uses(engine, "TWICE") == 1 and await available(engine, user) == 700
    assert await transfers_with_key(engine, "promo:TWICE:%") == 1
    assert (await check_invariants(engine)).ok


async def test_redemption_a_crash_left_uncredited_is_credited_once_by_the_sweep(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user(engine, ledger, 1)
    await promos.create("CRASH", PromoKind.FIXED, amount_kopecks=300)

    async def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the process died after the redemption committed")

    with monkeypatch.context() as patched:
        patched.setattr(promos.ledger, "credit", crash)
        with pytest.raises(ConnectionError):
            await promos.redeem("CRASH", user)
    left = await statuses(engine, "CRASH")
    too_fresh = await promos.settle_credits()  # within its first minute the live path may still be crediting it
    swept = await promos.settle_credits(older_than=timedelta(0))
    again = await promos.settle_credits(older_than=timedelta(0))
    retry = await promos.redeem("CRASH", user)

    assert left == {user: PENDING_CREDIT} and await uses(engine, "CRASH") == 1
    assert (too_fresh, swept, again) == (0, 1, 0)
    assert retry.refusal == Refusal.ALREADY_USED
    assert await statuses(engine, "CRASH") == {user: "credited"}
    assert await transfers_with_key(engine, promo_key("CRASH", user)) == 1
    assert await available(engine, user) == 300
    assert (await check_invariants(engine)).ok


async def test_user_retry_and_sweep_at_once_credit_an_interrupted_redemption_once(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes
) -> None:
    users = [await make_user(engine, ledger, i) for i in (1, 2, 3)]
    await promos.create("CRASH", PromoKind.FIXED, amount_kopecks=300)
    async with engine.begin() as conn:  # redemptions recorded, then the process died before their credits
        for user in users:
            await conn.execute(
                sa.insert(promo_redemptions).values(
                    code="CRASH", user_id=user, status=PENDING_CREDIT, amount_kopecks=300,
                    created_at=utcnow() - timedelta(minutes=2),
                )
            )  # fmt: skip
    await open_connections(engine, 8)

    outcomes = await asyncio.gather(
        promos.settle_credits(), promos.settle_credits(), *(promos.redeem("CRASH", u) for u in users)
    )

    assert all(isinstance(o, int) or o.ok or o.refusal == Refusal.ALREADY_USED for o in outcomes)
    assert [await transfers_with_key(engine, promo_key("CRASH", u)) for u in users] == [1, 1, 1]
    assert await statuses(engine, "CRASH") == dict.fromkeys(users, "credited")
    assert [await available(engine, u) for u in users] == [300, 300, 300]
    assert (await check_invariants(engine)).ok


async def test_percent_code_adds_to_the_next_top_up_only(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes, topups: TopupService
) -> None:
    topups.add_hook(promos.apply_topup_bonus)
    user = await make_user(engine, ledger, 1)
    await promos.create("PLUS20", PromoKind.PERCENT, percent=20)

    outcome = await promos.redeem("plus20", user)
    assert outcome.ok and outcome.percent == 20 and await available(engine, user) == 0
    await topups.credit(user_id=user, provider="stars", external_id="ch-1", amount_kopecks=50_000,
                        currency="XTR", provider_amount=250)  # fmt: skip
    await topups.credit(user_id=user, provider="stars", external_id="ch-2", amount_kopecks=10_000,
                        currency="XTR", provider_amount=50)  # fmt: skip

    assert await available(engine, user) == 50_000 + 10_000 + 10_000
    assert await promos.pending_percent(user) == []
    assert (await check_invariants(engine)).ok


async def test_percent_bonus_is_paid_once_when_the_hook_runs_twice(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes, topups: TopupService
) -> None:
    user = await make_user(engine, ledger, 1)
    await promos.create("FIRST", PromoKind.PERCENT, percent=10)
    await promos.create("SECOND", PromoKind.PERCENT, percent=50)
    assert (await promos.redeem("FIRST", user)).ok
    assert (await promos.redeem("SECOND", user)).ok
    paid = await topups.credit(user_id=user, provider="yookassa", external_id="p-1", amount_kopecks=100_000,
                               currency="RUB", provider_amount=100_000)  # fmt: skip
    from aistudio.payments.topups import TopupCredited

    event = TopupCredited(paid.payment_id, user, "yookassa", 100_000, "p-1")

    await open_connections(engine, 4)
    await asyncio.gather(*(promos.apply_topup_bonus(event) for _ in range(4)))
    await promos.apply_topup_bonus(event)

    assert await available(engine, user) == 100_000 + 10_000  # the older code, once; the other still waits
    assert await transfers_with_key(engine, promo_bonus_key(paid.payment_id)) == 1
    assert await transfers_with_key(engine, "promo-bonus:%") == 1
    assert await promos.pending_percent(user) == [("SECOND", 50)]
    assert (await check_invariants(engine)).ok


async def test_code_redeemed_after_a_payment_is_not_applied_to_it(
    engine: AsyncEngine, ledger: Ledger, promos: PromoCodes, topups: TopupService
) -> None:
    user = await make_user(engine, ledger, 1)
    paid = await topups.credit(user_id=user, provider="manual", external_id="m-1", amount_kopecks=10_000,
                               currency="RUB", provider_amount=10_000)  # fmt: skip
    await promos.create("LATER", PromoKind.PERCENT, percent=30)
    assert (await promos.redeem("LATER", user)).ok
    from aistudio.payments.topups import TopupCredited

    await promos.apply_topup_bonus(TopupCredited(paid.payment_id, user, "manual", 10_000, "m-1"))

    assert await available(engine, user) == 10_000
    assert await promos.pending_percent(user) == [("LATER", 30)]


async def test_admin_changes_are_validated_and_audited(promos: PromoCodes, engine: AsyncEngine) -> None:
    await promos.create("AUDIT", PromoKind.FIXED, amount_kopecks=100, created_by=7)
    with pytest.raises(InvalidPromo) as exists:
        await promos.create("audit", PromoKind.FIXED, amount_kopecks=100)
    with pytest.raises(InvalidPromo) as bad:
        await promos.create("X", PromoKind.FIXED, amount_kopecks=100)
    with pytest.raises(InvalidPromo) as pct:
        await promos.create("PCT", PromoKind.PERCENT, percent=101)
    before = await promos.deactivate("AUDIT", admin_id=7)
    missing = await promos.deactivate("GHOST", admin_id=7)

    assert (exists.value.reason, bad.value.reason, pct.value.reason) == ("exists", "bad_code", "bad_percent")
    assert before is not None and before.is_active and missing is None
    assert not (await promos.get("AUDIT")).is_active  # type: ignore[union-attr]
    async with engine.connect() as conn:
        actions = (await conn.execute(sa.select(admin_audit.c.action, admin_audit.c.admin_id))).all()
    assert sorted(actions) == [("promo.create", 7), ("promo.deactivate", 7)]
