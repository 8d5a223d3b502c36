"""The one-off welcome bonus for users from before it: dry run, confirm, and a second run that does nothing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.tables import ledger_transfers, users
from aistudio.growth.legacy_bonus import migrate_legacy_bonus, start_bonus_key
from tests.support import make_user


async def balances(engine: AsyncEngine, ids: list[int]) -> list[int]:
    return [(await wallet_balance(engine, i)).available for i in ids]


async def transfers(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(ledger_transfers))).scalar_one()


async def test_dry_run_changes_nothing_then_confirm_pays_each_once(engine: AsyncEngine, ledger: Ledger) -> None:
    ids = [await make_user(engine, ledger, i) for i in range(1, 8)]
    await ledger.credit(start_bonus_key(2), 2, 5_000, Operator.BONUS)  # had the live bonus already
    async with engine.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == 3).values(is_banned=True))
    lines: list[str] = []
    before = await transfers(engine)

    dry = await migrate_legacy_bonus(engine, ledger, 5_000, dry_run=True, batch_size=3, echo=lines.append)

    assert (dry.users, dry.eligible, dry.credited, dry.skipped) == (7, 5, 0, 2)
    assert await transfers(engine) == before and await balances(engine, ids) == [0, 5_000, 0, 0, 0, 0, 0]
    assert "user 1: would credit 50 ₽" in lines and lines[-1].startswith("dry run: users 7, eligible 5")

    done = await migrate_legacy_bonus(engine, ledger, 5_000, dry_run=False, batch_size=3, echo=lines.append)
    again = await migrate_legacy_bonus(engine, ledger, 5_000, dry_run=False, batch_size=3, echo=lines.append)

    assert (done.eligible, done.credited, done.skipped) == (5, 5, 2)
    assert (again.eligible, again.credited, again.skipped) == (0, 0, 7)
    assert await balances(engine, ids) == [5_000, 5_000, 0, 5_000, 5_000, 5_000, 5_000]
    assert "user 4: credited 50 ₽" in lines and "user 3: skipped (banned)" in lines
    assert (await check_invariants(engine)).ok
