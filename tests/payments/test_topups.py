"""TopupService: every paid top-up credited exactly once, and `settle` finishing what a crash interrupted.

The races (`asyncio.gather`) overlap on PostgreSQL only (SQLite serialises transactions); the `engine` fixture runs
every test on both. Each test counts the ledger transfers under the top-up's key, and checks the books balance.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, payments
from aistudio.payments.topups import TopupCredited, TopupService, topup_key
from tests.races import open_connections
from tests.support import make_user

USER = 1


@pytest.fixture
async def ledger(engine: AsyncEngine) -> Ledger:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    await make_user(engine, ledger, USER)
    return ledger


async def stars(topups: TopupService, charge: str, amount: int = 50_000) -> Any:
    return await topups.credit(
        user_id=USER, provider="stars", external_id=charge, amount_kopecks=amount, currency="XTR", provider_amount=250
    )


async def credits_under(engine: AsyncEngine, provider: str, external_id: str) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(ledger_transfers.c.idempotency_key == topup_key(provider, external_id))
        return int((await conn.execute(query)).scalar_one())


async def payment(engine: AsyncEngine, payment_id: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(payments).where(payments.c.id == payment_id))).one()


async def available(engine: AsyncEngine) -> int:
    return (await wallet_balance(engine, USER)).available


async def test_a_repeated_payment_is_credited_once(engine: AsyncEngine, ledger: Ledger) -> None:
    topups = TopupService(engine, ledger)
    await open_connections(engine, 4)

    first = await stars(topups, "ch-1")
    at_once = await asyncio.gather(*(stars(topups, "ch-2") for _ in range(4)))  # Telegram redelivering it
    again = await stars(topups, "ch-1")

    assert not first.duplicate and again.duplicate and again.payment_id == first.payment_id
    assert sorted(o.duplicate for o in at_once) == [False, True, True, True]
    assert len({o.payment_id for o in at_once}) == 1
    assert [await credits_under(engine, "stars", c) for c in ("ch-1", "ch-2")] == [1, 1]
    assert await available(engine) == 100_000
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(payments))).scalar_one() == 2
    assert (await check_invariants(engine)).ok


async def test_settle_credits_a_payment_a_crash_left_pending(engine: AsyncEngine, ledger: Ledger) -> None:
    seen: list[TopupCredited] = []

    async def hook(event: TopupCredited) -> None:
        seen.append(event)

    topups = TopupService(engine, ledger, hooks=[hook])
    async with engine.begin() as conn:  # the payments row committed, then the process died before the credit
        paid_id = (
            await conn.execute(
                sa.insert(payments)
                .values(
                    user_id=USER, provider="yookassa", external_id="pay-1", status="pending", amount_kopecks=70_000,
                    currency="RUB", provider_amount=70_000, created_at=utcnow(), updated_at=utcnow(),
                )
                .returning(payments.c.id)
            )
        ).scalar_one()  # fmt: skip

    found = await topups.settle(older_than=timedelta(0))
    again = await topups.settle(older_than=timedelta(0))
    replayed = await topups.credit(user_id=USER, provider="yookassa", external_id="pay-1", amount_kopecks=70_000,
                                   currency="RUB", provider_amount=70_000)  # fmt: skip

    row = await payment(engine, paid_id)
    assert (found, again) == (1, 0)
    assert replayed.duplicate and replayed.payment_id == paid_id
    assert row.status == "credited" and row.settled_at is not None
    assert [e.payment_id for e in seen] == [paid_id]
    assert await credits_under(engine, "yookassa", "pay-1") == 1
    assert await available(engine) == 70_000
    assert (await check_invariants(engine)).ok


async def test_a_failed_hook_is_rerun_by_settle_and_the_payment_settled(engine: AsyncEngine, ledger: Ledger) -> None:
    calls: list[int] = []

    async def flaky(event: TopupCredited) -> None:
        calls.append(event.payment_id)
        if len(calls) == 1:
            raise RuntimeError("the referral notice could not be sent")

    topups = TopupService(engine, ledger, hooks=[flaky])

    outcome = await stars(topups, "ch-hook")
    unsettled = await payment(engine, outcome.payment_id)
    found = await topups.settle(older_than=timedelta(0))
    settled = await payment(engine, outcome.payment_id)
    nothing_left = await topups.settle(older_than=timedelta(0))

    assert unsettled.status == "credited" and unsettled.settled_at is None  # the money is in, the effect owed
    assert await available(engine) == 50_000
    assert (found, nothing_left) == (1, 0)
    assert settled.settled_at is not None and calls == [outcome.payment_id] * 2
    assert await credits_under(engine, "stars", "ch-hook") == 1
    assert (await check_invariants(engine)).ok


async def test_settle_racing_the_live_path_credits_once(engine: AsyncEngine, ledger: Ledger) -> None:
    hooked: list[int] = []

    async def hook(event: TopupCredited) -> None:
        hooked.append(event.payment_id)

    topups = TopupService(engine, ledger, hooks=[hook])
    charges = [f"race-{i}" for i in range(5)]
    real_credit = ledger.credit
    role: ContextVar[str] = ContextVar("role", default="sweep")
    all_pending, sweep_at_ledger = asyncio.Event(), asyncio.Event()

    async def credit_in_step(*args: Any, **kwargs: Any) -> Any:
        # Every live path stops between committing its pending row and crediting, until the sweep (which has
        # by then read those rows as pending) reaches the ledger too: then they all credit at the same moment.
        if role.get() == "live":
            arrived.append(1)
            if len(arrived) == len(charges):
                all_pending.set()
            await sweep_at_ledger.wait()
        else:
            sweep_at_ledger.set()
        return await real_credit(*args, **kwargs)

    arrived: list[int] = []
    ledger.credit = credit_in_step  # type: ignore[method-assign]
    await open_connections(engine, 8)

    async def live(charge: str) -> Any:
        role.set("live")
        return await stars(topups, charge, 10_000)

    async def sweep_once_all_pending() -> int:
        await all_pending.wait()
        return await topups.settle(older_than=timedelta(0))

    results = await asyncio.gather(*(live(c) for c in charges), sweep_once_all_pending())

    swept = results[-1]
    assert swept == len(charges)  # the sweep really did find them pending, mid-way through the live path
    assert [await credits_under(engine, "stars", c) for c in charges] == [1] * len(charges)
    assert await available(engine) == 10_000 * len(charges)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(payments.c.status, payments.c.settled_at))).all()
    assert [r.status for r in rows] == ["credited"] * len(charges) and all(r.settled_at for r in rows)
    assert set(hooked) == {o.payment_id for o in results[:-1]}  # hooks may run twice: each is idempotent
    assert (await check_invariants(engine)).ok
