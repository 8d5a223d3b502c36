"""Helpers shared by tests (not fixtures): making users with wallets."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.repo.users import upsert_user


async def make_user(engine: AsyncEngine, ledger: Ledger, user_id: int, *, balance: int = 0) -> int:
    """Register a user, open the wallet and top it up with `balance` kopecks."""
    async with engine.begin() as conn:
        await upsert_user(conn, user_id, username=f"u{user_id}", first_name="Test")
    await ledger.accounts.open_wallet(user_id)
    if balance:
        await ledger.credit(f"test-topup:{user_id}:{balance}", user_id, balance, Operator.TOPUPS_MANUAL)
    return user_id
