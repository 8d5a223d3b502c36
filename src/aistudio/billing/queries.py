"""Reading the ledger: balances, statements, and the invariant check that recomputes everything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger_core import PENDING, POSTED
from aistudio.db.sql import as_utc
from aistudio.db.tables import ledger_accounts, ledger_transfers

T = ledger_transfers
A = ledger_accounts


@dataclass(frozen=True)
class Balance:
    posted: int  # credits − debits that happened
    pending: int  # held for running generations
    available: int  # what the user can spend now


@dataclass(frozen=True)
class StatementLine:
    transfer_id: int
    kind: str
    amount: int  # signed, from the wallet's point of view
    status: str
    reason: str | None
    meta: dict | None
    created_at: datetime


@dataclass(frozen=True)
class InvariantReport:
    total: int  # sum of every account's posted balance; must be 0
    negative_wallets: list[int]
    drifted_wallets: list[int]  # stored totals that differ from the transfers
    ok: bool


async def wallet_balance(engine: AsyncEngine, user_id: int) -> Balance:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(A.c.credits_posted, A.c.debits_posted, A.c.debits_pending).where(A.c.user_id == user_id)
            )
        ).first()
    if row is None:
        return Balance(0, 0, 0)
    posted = row.credits_posted - row.debits_posted
    return Balance(posted=posted, pending=row.debits_pending, available=posted - row.debits_pending)


async def wallet_statement(engine: AsyncEngine, user_id: int, *, limit: int = 10) -> list[StatementLine]:
    """The newest entries touching the wallet, newest first; voided release rows are left out."""
    async with engine.connect() as conn:
        wallet = (await conn.execute(sa.select(A.c.id).where(A.c.user_id == user_id))).scalar_one_or_none()
        if wallet is None:
            return []
        rows = await conn.execute(
            sa.select(T)
            .where(sa.or_(T.c.debit_account_id == wallet, T.c.credit_account_id == wallet))
            .where(T.c.kind != "release")
            .where(T.c.kind != "expire")
            .order_by(T.c.id.desc())
            .limit(limit)
        )
        lines = []
        for r in rows:
            sign = 1 if r.credit_account_id == wallet else -1
            lines.append(
                StatementLine(
                    r.id,
                    r.kind,
                    sign * r.amount,
                    r.status,
                    r.reason,
                    r.meta,
                    as_utc(r.created_at) or r.created_at,
                )
            )
        return lines


async def operator_balance(engine: AsyncEngine, code: str) -> int:
    """An operator account's balance, summed from its transfers (operator totals are not stored)."""
    async with engine.connect() as conn:
        account = (await conn.execute(sa.select(A.c.id).where(A.c.code == code))).scalar_one()
        credits = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(T.c.amount), 0)).where(
                    T.c.credit_account_id == account, T.c.status == POSTED
                )
            )
        ).scalar_one()
        debits = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(T.c.amount), 0)).where(
                    T.c.debit_account_id == account, T.c.status == POSTED
                )
            )
        ).scalar_one()
    return int(credits) - int(debits)


async def check_invariants(engine: AsyncEngine) -> InvariantReport:
    """Recompute every balance from the transfers and compare with what is stored.

    The total uses the stored wallet totals plus the operator balances derived from transfers, so a drift in
    any stored wallet total shows up as a non-zero sum as well as in `drifted_wallets`.
    """
    posted_credit = (
        sa.select(T.c.credit_account_id.label("acc"), sa.func.sum(T.c.amount).label("s"))
        .where(T.c.status == POSTED)
        .group_by(T.c.credit_account_id)
        .subquery()
    )
    posted_debit = (
        sa.select(T.c.debit_account_id.label("acc"), sa.func.sum(T.c.amount).label("s"))
        .where(T.c.status == POSTED)
        .group_by(T.c.debit_account_id)
        .subquery()
    )
    pending = (
        sa.select(T.c.debit_account_id.label("acc"), sa.func.sum(T.c.amount).label("s"))
        .where(T.c.status == PENDING)
        .group_by(T.c.debit_account_id)
        .subquery()
    )
    query = (
        sa.select(
            A.c.id,
            A.c.kind,
            A.c.credits_posted,
            A.c.debits_posted,
            A.c.debits_pending,
            sa.func.coalesce(posted_credit.c.s, 0),
            sa.func.coalesce(posted_debit.c.s, 0),
            sa.func.coalesce(pending.c.s, 0),
        )
        .outerjoin(posted_credit, posted_credit.c.acc == A.c.id)
        .outerjoin(posted_debit, posted_debit.c.acc == A.c.id)
        .outerjoin(pending, pending.c.acc == A.c.id)
    )
    total = 0
    negative: list[int] = []
    drifted: list[int] = []
    async with engine.connect() as conn:
        for acc_id, kind, c_st, d_st, p_st, c_re, d_re, p_re in await conn.execute(query):
            c_re, d_re, p_re = int(c_re), int(d_re), int(p_re)
            if kind == "wallet":
                total += c_st - d_st
                if (c_st, d_st, p_st) != (c_re, d_re, p_re):
                    drifted.append(acc_id)
                if c_st - d_st - p_st < 0 or c_re - d_re - p_re < 0:
                    negative.append(acc_id)
            else:
                total += c_re - d_re
    return InvariantReport(total, negative, drifted, ok=total == 0 and not negative and not drifted)
