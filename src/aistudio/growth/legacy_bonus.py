"""The one-off welcome bonus for users who registered before it existed (`aistudio wallets migrate-legacy-bonus`).

Every user without the welcome bonus gets it once, under the live bonus's own key `bonus:start:<user>`: the
script and `/start` can never both pay the same user, and a second run finds nothing left to do. Users are
read in id order, a batch at a time, so the script's memory does not grow with the user base. Banned users
are skipped (and counted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.tables import ledger_transfers, users

log = logging.getLogger(__name__)


def start_bonus_key(user_id: int) -> str:
    """The welcome bonus's ledger key, shared by `/start` and this script."""
    return f"bonus:start:{user_id}"


@dataclass
class LegacyBonusReport:
    users: int = 0  # looked at
    eligible: int = 0  # without the bonus and not banned
    credited: int = 0  # credited by this run (0 in a dry run)
    skipped: int = 0  # already had the bonus, banned, or paid meanwhile by /start

    def summary(self, *, dry_run: bool) -> str:
        verb = "would credit" if dry_run else "credited"
        credited = self.eligible if dry_run else self.credited
        return (
            f"{'dry run: ' if dry_run else ''}users {self.users}, eligible {self.eligible}, "
            f"{verb} {credited}, skipped {self.skipped}"
        )


async def migrate_legacy_bonus(
    engine: AsyncEngine,
    ledger: Ledger,
    amount_kopecks: int,
    *,
    dry_run: bool,
    batch_size: int = 500,
    echo: Callable[[str], None] = print,
) -> LegacyBonusReport:
    """Credit `amount_kopecks` once to every user who never had the welcome bonus; `dry_run` changes nothing."""
    if amount_kopecks <= 0:
        raise ValueError("the bonus must be positive")
    report = LegacyBonusReport()
    rub = f"{amount_kopecks / 100:g}"
    after = -(2**63)
    while True:
        batch = await _next_batch(engine, after, batch_size)
        if not batch:
            break
        after = batch[-1].id
        for row in batch:
            report.users += 1
            if row.has_bonus or row.is_banned:
                report.skipped += 1
                echo(f"user {row.id}: skipped ({'banned' if row.is_banned else 'already has the welcome bonus'})")
                continue
            report.eligible += 1
            if dry_run:
                echo(f"user {row.id}: would credit {rub} ₽")
                continue
            await ledger.accounts.open_wallet(row.id)
            result = await ledger.credit(
                start_bonus_key(row.id), row.id, amount_kopecks, Operator.BONUS, reason="welcome (legacy users)"
            )
            if result.duplicate:  # /start paid it between the read and now
                report.skipped += 1
                echo(f"user {row.id}: skipped (credited meanwhile)")
            else:
                report.credited += 1
                echo(f"user {row.id}: credited {rub} ₽")
    summary = report.summary(dry_run=dry_run)
    log.info("legacy welcome bonus: %s", summary)
    echo(summary)
    return report


async def _next_batch(engine: AsyncEngine, after: int, size: int) -> list[sa.Row]:
    key = sa.literal("bonus:start:") + sa.cast(users.c.id, sa.String)
    has_bonus = sa.exists().where(ledger_transfers.c.idempotency_key == key)
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(users.c.id, users.c.is_banned, has_bonus.label("has_bonus"))
            .where(users.c.id > after)
            .order_by(users.c.id)
            .limit(size)
        )
        return list(rows)


async def run_from_cli(
    database_url: str, amount_kopecks: int, *, dry_run: bool, echo: Callable[[str], None]
) -> LegacyBonusReport:
    """`aistudio wallets migrate-legacy-bonus`: its own engine, closed afterwards."""
    from aistudio.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        ledger = Ledger(engine)
        if not dry_run:
            await ledger.accounts.ensure_operator_accounts()
        return await migrate_legacy_bonus(engine, ledger, amount_kopecks, dry_run=dry_run, echo=echo)
    finally:
        await engine.dispose()
