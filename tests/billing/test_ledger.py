"""The ledger's rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import (
    CaptureExceedsHold,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
)
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, operator_balance, wallet_balance, wallet_statement
from aistudio.db.rawsql import StorageUnavailable
from aistudio.db.sql import utcnow
from aistudio.db.tables import admin_audit, ledger_transfers
from tests.support import make_user


@pytest.fixture
async def ledger(engine: AsyncEngine) -> Ledger:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    return ledger


async def test_hold_then_capture_charges_exactly_the_hold(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=10_000)

    await ledger.hold("gen:1:hold", user, 3_800)
    held = await wallet_balance(engine, user)
    await ledger.capture("gen:1:capture", "gen:1:hold")

    assert held.available == 6_200 and held.pending == 3_800
    after = await wallet_balance(engine, user)
    assert (after.available, after.pending, after.posted) == (6_200, 0, 6_200)
    assert await operator_balance(engine, Operator.REVENUE) == 3_800
    assert (await check_invariants(engine)).ok


async def test_partial_capture_returns_the_rest(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 600)

    result = await ledger.capture("c", "h", 250)

    assert result.amount == 250
    assert (await wallet_balance(engine, user)).available == 750
    assert (await check_invariants(engine)).ok


async def test_release_returns_everything(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 600)

    await ledger.release("r", "h", reason="kie failed")

    assert (await wallet_balance(engine, user)).available == 1_000
    assert await operator_balance(engine, Operator.REVENUE) == 0


async def test_insufficient_funds_names_the_shortfall_and_moves_nothing(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=500)

    with pytest.raises(InsufficientFunds) as info:
        await ledger.hold("gen:9:hold", user, 800)

    assert info.value.shortfall == 300
    assert (await wallet_balance(engine, user)).available == 500
    async with engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(ledger_transfers))).scalar_one()
    assert count == 1  # only the top-up


async def test_rejected_key_keeps_its_outcome_after_a_top_up(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=500)
    with pytest.raises(InsufficientFunds):
        await ledger.hold("gen:9:hold", user, 800)
    await ledger.credit("topup:2", user, 1_000, Operator.TOPUPS_STARS)

    with pytest.raises(InsufficientFunds) as again:
        await ledger.hold("gen:9:hold", user, 800)

    assert again.value.shortfall == 300
    assert (await wallet_balance(engine, user)).available == 1_500


async def test_same_key_twice_is_one_transfer(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1)

    first = await ledger.credit("stars:charge-1", user, 5_000, Operator.TOPUPS_STARS)
    second = await ledger.credit("stars:charge-1", user, 5_000, Operator.TOPUPS_STARS)

    assert first.transfer_id == second.transfer_id and second.duplicate and not first.duplicate
    assert (await wallet_balance(engine, user)).available == 5_000


async def test_key_reused_for_another_amount_is_a_conflict(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1)
    await ledger.credit("k", user, 100, Operator.BONUS)

    with pytest.raises(IdempotencyConflict):
        await ledger.credit("k", user, 200, Operator.BONUS)


async def test_capture_after_release_is_refused_and_remembered(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 400)
    await ledger.release("r", "h")

    with pytest.raises(HoldAlreadyResolved):
        await ledger.capture("c", "h")
    with pytest.raises(HoldAlreadyResolved):
        await ledger.capture("c", "h")
    assert (await wallet_balance(engine, user)).available == 1_000


async def test_capture_cannot_exceed_the_hold_or_miss_it(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 400)

    with pytest.raises(CaptureExceedsHold):
        await ledger.capture("c", "h", 401)
    with pytest.raises(HoldNotFound):
        await ledger.capture("c2", "no-such-hold")
    assert (await wallet_balance(engine, user)).pending == 400


async def test_stale_holds_expire_and_are_released(engine: AsyncEngine) -> None:
    clock_now = [utcnow()]
    ledger = Ledger(engine, hold_ttl=timedelta(minutes=5), clock=lambda: clock_now[0])
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("old", user, 300)
    clock_now[0] += timedelta(minutes=4)
    await ledger.hold("young", user, 200)
    clock_now[0] += timedelta(minutes=2)

    released = await ledger.expire_holds()

    assert released == 1
    balance = await wallet_balance(engine, user)
    assert (balance.available, balance.pending) == (800, 200)
    with pytest.raises(HoldAlreadyResolved):
        await ledger.capture("late-capture", "old")


async def test_admin_adjust_is_audited_and_never_overdraws(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)

    await ledger.adjust("adj:1", user, -400, admin_id=777, reason="duplicate top-up")
    with pytest.raises(InsufficientFunds):
        await ledger.adjust("adj:2", user, -700, admin_id=777, reason="too much")
    with pytest.raises(ValueError):
        await ledger.adjust("adj:3", user, 100, admin_id=777, reason="  ")

    assert (await wallet_balance(engine, user)).available == 600
    async with engine.connect() as conn:
        audit = (await conn.execute(sa.select(admin_audit))).all()
    assert [(a.admin_id, a.action, a.reason, a.after["available"]) for a in audit] == [
        (777, "balance.adjust", "duplicate top-up", 600)
    ]


async def test_debit_never_takes_a_wallet_below_zero(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 800)

    with pytest.raises(InsufficientFunds) as info:
        await ledger.debit("refund:stars:x", user, 500, Operator.TOPUPS_STARS)

    assert info.value.shortfall == 300
    assert (await check_invariants(engine)).ok


async def test_statement_lists_entries_newest_first_with_signs(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    await ledger.hold("h", user, 300)
    await ledger.capture("c", "h")

    lines = await wallet_statement(engine, user)

    assert [(line.kind, line.amount) for line in lines] == [
        ("capture", -300),
        ("hold", -300),
        ("credit", 1_000),
    ]


async def test_fifty_racing_spenders_never_overdraw_one_wallet(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)

    async def spend(i: int) -> bool:
        try:
            await ledger.hold(f"race:{i}", user, 70)
        except InsufficientFunds:
            return False
        await ledger.capture(f"race:{i}:capture", f"race:{i}")
        return True

    outcomes = await asyncio.gather(*(spend(i) for i in range(50)))

    assert sum(outcomes) == 1_000 // 70  # 14 succeed, the rest are refused
    balance = await wallet_balance(engine, user)
    assert balance.available == 1_000 - 14 * 70 and balance.pending == 0
    assert (await check_invariants(engine)).ok


async def test_same_key_raced_fifty_times_moves_money_once(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1)

    results = await asyncio.gather(*(ledger.credit("stars:dup", user, 700, Operator.TOPUPS_STARS) for _ in range(50)))

    assert len({r.transfer_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert (await wallet_balance(engine, user)).available == 700


async def test_connection_lost_mid_transfer_rolls_back_and_retry_is_safe(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    armed = [True]

    def cut_before_insert(statement: str) -> None:
        # The connection "drops" as the transfer is written: on SQLite the wallet was already reserved in this
        # transaction; on PostgreSQL the whole hold is one statement (WITH r AS (UPDATE ...) INSERT ...).
        if armed[0] and statement.startswith(("INSERT INTO ledger_transfers", "WITH r AS")):
            armed[0] = False
            raise ConnectionResetError("connection lost")

    ledger.db.fault = cut_before_insert
    with pytest.raises(StorageUnavailable):
        await ledger.hold("gen:5:hold", user, 400)
    assert (await wallet_balance(engine, user)).available == 1_000  # the reservation was rolled back
    await ledger.hold("gen:5:hold", user, 400)

    balance = await wallet_balance(engine, user)
    assert (balance.available, balance.pending) == (600, 400)
    assert (await check_invariants(engine)).ok


@pytest.mark.postgres
async def test_backend_killed_mid_transfer_on_postgres_rolls_back(pg_engine: AsyncEngine) -> None:
    ledger = Ledger(pg_engine)
    await ledger.accounts.ensure_operator_accounts()
    user = await make_user(pg_engine, ledger, 1, balance=1_000)
    async with pg_engine.connect() as blocker, pg_engine.connect() as observer:
        await blocker.begin()
        await blocker.execute(sa.text("SELECT 1 FROM ledger_accounts WHERE user_id = 1 FOR UPDATE"))
        attempt = asyncio.create_task(ledger.hold("gen:6:hold", user, 400))
        victim = None
        for _ in range(500):
            victim = (
                await observer.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                )
            ).scalar()
            await observer.rollback()  # a new snapshot of pg_stat_activity next time
            if victim:
                break
            await asyncio.sleep(0.01)
        assert victim, "the hold never waited on the wallet lock"
        await observer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        with pytest.raises(StorageUnavailable):
            await attempt
        await blocker.rollback()

    retried = await ledger.hold("gen:6:hold", user, 400)

    assert not retried.duplicate
    assert (await wallet_balance(pg_engine, user)).available == 600
    assert (await check_invariants(pg_engine)).ok


async def test_the_same_hold_and_capture_raced_fifty_times_happen_once(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)

    holds = await asyncio.gather(*(ledger.hold("gen:7:hold", user, 300) for _ in range(50)))
    captures = await asyncio.gather(*(ledger.capture("gen:7:capture", "gen:7:hold", 200) for _ in range(50)))

    assert len({h.transfer_id for h in holds}) == 1 and sum(not h.duplicate for h in holds) == 1
    assert len({c.transfer_id for c in captures}) == 1 and {c.amount for c in captures} == {200}
    balance = await wallet_balance(engine, user)
    assert (balance.available, balance.pending) == (800, 0)
    assert (await check_invariants(engine)).ok


async def test_a_refused_capture_key_stays_refused_after_the_hold_appears(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1, balance=1_000)
    with pytest.raises(HoldNotFound):
        await ledger.capture("gen:8:capture", "gen:8:hold")
    await ledger.hold("gen:8:hold", user, 300)

    with pytest.raises(HoldNotFound):
        await ledger.capture("gen:8:capture", "gen:8:hold")

    assert (await wallet_balance(engine, user)).pending == 300
