"""What the balance screen needs beyond `billing.queries`: who each statement line's money came from or
went to, and which model a hold or capture was for."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.queries import StatementLine, wallet_statement
from aistudio.db.tables import ledger_accounts, ledger_transfers


@dataclass(frozen=True)
class StatementEntry:
    """A wallet statement line and its counterparty (`topups:stars`, `bonus`, `revenue`, ...)."""

    line: StatementLine
    counterparty: str | None
    model_id: str | None  # for holds and captures: the model the money was for


async def statement_entries(engine: AsyncEngine, user_id: int, *, limit: int = 10) -> list[StatementEntry]:
    """The last `limit` wallet entries, newest first, each with its counterparty and model."""
    lines = await wallet_statement(engine, user_id, limit=limit)
    if not lines:
        return []
    t, hold = ledger_transfers, ledger_transfers.alias("hold")
    debit, credit = ledger_accounts.alias("debit"), ledger_accounts.alias("credit")
    query = (
        sa.select(t.c.id, debit.c.code, debit.c.user_id, credit.c.code, t.c.kind, t.c.reason, hold.c.reason)
        .join(debit, debit.c.id == t.c.debit_account_id)
        .join(credit, credit.c.id == t.c.credit_account_id)
        .outerjoin(hold, hold.c.id == t.c.pending_id)
        .where(t.c.id.in_([line.transfer_id for line in lines]))
    )
    context: dict[int, tuple[str | None, str | None]] = {}
    async with engine.connect() as conn:
        for tid, debit_code, debit_user, credit_code, kind, reason, hold_reason in await conn.execute(query):
            # The wallet is one side; the other side is the counterparty.
            counterparty = credit_code if debit_user == user_id else debit_code
            model = hold_reason if kind == "capture" else reason if kind == "hold" else None
            context[tid] = (counterparty, model)
    return [StatementEntry(line, *context.get(line.transfer_id, (None, None))) for line in lines]
