"""`aistudio wallets migrate-legacy-bonus` as an operator runs it (a real subprocess, SQLite)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.engine import create_engine
from tests.support import make_user


def wallets(url: str, *args: str, bonus: str = "25") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "START_BONUS_RUB": bonus}
    return subprocess.run(
        [sys.executable, "-m", "aistudio.cli", "wallets", "migrate-legacy-bonus", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


async def _users(url: str) -> None:
    engine = create_engine(url)
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    for user in (1, 2):
        await make_user(engine, ledger, user)
    await engine.dispose()


async def _state(url: str) -> tuple[list[int], bool]:
    engine = create_engine(url)
    balances = [(await wallet_balance(engine, u)).available for u in (1, 2)]
    ok = (await check_invariants(engine)).ok
    await engine.dispose()
    return balances, ok


def test_refuses_without_a_flag_dry_run_changes_nothing_confirm_pays_once(sqlite_url: str) -> None:
    asyncio.run(_users(sqlite_url))

    neither = wallets(sqlite_url)
    no_amount = wallets(sqlite_url, "--confirm", bonus="0")
    dry = wallets(sqlite_url, "--dry-run")
    after_dry = asyncio.run(_state(sqlite_url))
    first = wallets(sqlite_url, "--confirm")
    second = wallets(sqlite_url, "--confirm", "--amount", "30")

    assert neither.returncode == no_amount.returncode == 2
    assert "--dry-run" in neither.stderr and "positive" in no_amount.stderr
    assert dry.returncode == 0, dry.stderr
    assert "user 1: would credit 25 ₽" in dry.stdout and "eligible 2, would credit 2" in dry.stdout
    assert after_dry == ([0, 0], True)
    assert first.returncode == 0 and "user 2: credited 25 ₽" in first.stdout and "credited 2, skipped 0" in first.stdout
    assert second.returncode == 0 and "eligible 0, credited 0, skipped 2" in second.stdout
    assert asyncio.run(_state(sqlite_url)) == ([2_500, 2_500], True)
