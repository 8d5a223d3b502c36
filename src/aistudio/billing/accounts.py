"""Ledger accounts: one wallet per user, plus the operator's accounts money comes from and goes to."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.billing.errors import UnknownAccount
from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import ledger_accounts


class Operator(StrEnum):
    """Operator accounts. They have no floor: a top-up account goes negative by what users paid in."""

    REVENUE = "revenue"
    TOPUPS_STARS = "topups:stars"
    TOPUPS_YOOKASSA = "topups:yookassa"
    TOPUPS_MANUAL = "topups:manual"
    BONUS = "bonus"
    PROMO = "promo"
    REFERRAL = "referral"
    ADJUSTMENTS = "adjustments"


def wallet_code(user_id: int) -> str:
    return f"wallet:{user_id}"


class AccountDirectory:
    """Resolves account codes to ids, creating accounts on first use; ids never change, so they are cached."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._operator_ids: dict[str, int] = {}
        self._wallet_ids: dict[int, int] = {}

    async def ensure_operator_accounts(self) -> None:
        async with self._engine.begin() as conn:
            for code in Operator:
                await conn.execute(
                    insert_ignore(conn, ledger_accounts, ["code"]).values(
                        code=code.value, kind="operator", created_at=utcnow()
                    )
                )
            rows = await conn.execute(
                sa.select(ledger_accounts.c.code, ledger_accounts.c.id).where(ledger_accounts.c.kind == "operator")
            )
            self._operator_ids = {code: id_ for code, id_ in rows}

    async def operator_id(self, account: Operator | str) -> int:
        if not self._operator_ids:
            await self.ensure_operator_accounts()
        try:
            return self._operator_ids[str(account)]
        except KeyError:
            raise UnknownAccount(f"no operator account {account!r}") from None

    async def open_wallet(self, user_id: int, conn: AsyncConnection | None = None) -> int:
        """Create the user's wallet if needed (the user row must exist) and return its account id."""
        if user_id in self._wallet_ids:
            return self._wallet_ids[user_id]
        if conn is None:
            async with self._engine.begin() as own:
                return await self.open_wallet(user_id, own)
        await conn.execute(
            insert_ignore(conn, ledger_accounts, ["code"]).values(
                code=wallet_code(user_id), kind="wallet", user_id=user_id, created_at=utcnow()
            )
        )
        account_id = (
            await conn.execute(sa.select(ledger_accounts.c.id).where(ledger_accounts.c.user_id == user_id))
        ).scalar_one()
        self._wallet_ids[user_id] = account_id
        return account_id

    def cached_operator(self, account: Operator | str) -> int | None:
        return self._operator_ids.get(str(account))

    def remember_operator(self, account: Operator | str, account_id: int) -> None:
        self._operator_ids[str(account)] = account_id

    def cached_wallet(self, user_id: int) -> int | None:
        return self._wallet_ids.get(user_id)

    def remember_wallet(self, user_id: int, account_id: int) -> None:
        self._wallet_ids[user_id] = account_id
