"""A ledger and a top-up service on the test database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.growth.promo import PromoCodes
from aistudio.payments.topups import TopupService


@pytest.fixture
async def ledger(engine: AsyncEngine) -> Ledger:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    return ledger


@pytest.fixture
def promos(engine: AsyncEngine, ledger: Ledger) -> PromoCodes:
    return PromoCodes(engine, ledger)


@pytest.fixture
def topups(engine: AsyncEngine, ledger: Ledger) -> TopupService:
    return TopupService(engine, ledger)
