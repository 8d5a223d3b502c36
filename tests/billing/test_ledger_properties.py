"""Property tests: random sequences of ledger operations keep the books balanced and every key stable."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import LedgerError
from aistudio.billing.ledger import Ledger, TransferResult
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.engine import create_engine
from tests.support import make_user

USERS_PER_EXAMPLE = 3
_user_ids = itertools.count(1_000)


@dataclass(frozen=True)
class Op:
    kind: str
    user: int
    amount: int
    ref: int  # which earlier hold (capture/release) or key (replay) it points at


ops_strategy = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["credit", "hold", "capture", "partial", "release", "debit", "adjust", "replay"]),
        user=st.integers(0, USERS_PER_EXAMPLE - 1),
        amount=st.integers(1, 5_000),
        ref=st.integers(0, 50),
    ),
    min_size=1,
    max_size=40,
)

Outcome = tuple[str, object]


async def _apply(ledger: Ledger, users: list[int], op: Op, step: int, holds: list[str], calls: list) -> None:
    user = users[op.user]
    if op.kind == "credit":
        call = ("credit", f"p:{user}:{step}", user, op.amount, Operator.TOPUPS_STARS)
    elif op.kind == "hold":
        key = f"gen:{user}:{step}:hold"
        holds.append(key)
        call = ("hold", key, user, op.amount)
    elif op.kind in ("capture", "partial", "release") and holds:
        hold_key = holds[op.ref % len(holds)]
        if op.kind == "release":
            call = ("release", f"{hold_key}:release:{step}", hold_key)
        else:
            amount = None if op.kind == "capture" else op.amount % 100
            call = ("capture", f"{hold_key}:capture:{step}", hold_key, amount)
    elif op.kind == "debit":
        call = ("debit", f"refund:{user}:{step}", user, op.amount, Operator.TOPUPS_STARS)
    elif op.kind == "adjust":
        delta = op.amount if op.ref % 2 else -op.amount
        call = ("adjust", f"adj:{user}:{step}", user, delta)
    elif op.kind == "replay" and calls:
        call = calls[op.ref % len(calls)][0]
    else:
        return
    outcome = await _call(ledger, call)
    if op.kind != "replay":
        calls.append((call, outcome))


async def _call(ledger: Ledger, call: tuple) -> Outcome:
    name, *args = call
    try:
        if name == "adjust":
            key, user, delta = args
            result: TransferResult = await ledger.adjust(key, user, delta, admin_id=1, reason="property test")
        elif name == "capture":
            key, hold_key, amount = args
            result = await ledger.capture(key, hold_key, amount)
        else:
            result = await getattr(ledger, name)(*args)
    except LedgerError as exc:
        return ("error", type(exc).__name__)
    return ("ok", (result.transfer_id, result.amount))


async def _run_sequence(url: str, ops: list[Op]) -> None:
    engine = create_engine(url, pool_size=5)
    try:
        ledger = Ledger(engine)
        users = [await make_user(engine, ledger, next(_user_ids)) for _ in range(USERS_PER_EXAMPLE)]
        holds: list[str] = []
        calls: list[tuple[tuple, Outcome]] = []
        for step, op in enumerate(ops):
            await _apply(ledger, users, op, step, holds, calls)
            report = await check_invariants(engine)
            assert report.ok, report
        for user in users:
            assert (await wallet_balance(engine, user)).available >= 0
        for call, first in calls:
            assert await _call(ledger, call) == first, f"outcome of {call[1]} changed"
    finally:
        await engine.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=ops_strategy)
def test_random_operations_keep_books_balanced_and_outcomes_stable(database_url: str, ops: list[Op]) -> None:
    asyncio.run(_run_sequence(database_url, ops))


@pytest.mark.parametrize("seed_ops", [[Op("credit", 0, 500, 0), Op("hold", 0, 600, 0), Op("replay", 0, 0, 1)]])
def test_refused_hold_stays_refused_on_replay(database_url: str, seed_ops: list[Op]) -> None:
    asyncio.run(_run_sequence(database_url, seed_ops))
