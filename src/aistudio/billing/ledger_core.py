"""The ledger's machinery: result types, key lookups, remembered refusals and the transaction runner.

The public operations (hold, capture, release, credit, debit, adjust) are in `aistudio.billing.ledger`.

Modelled on TigerBeetle: a hold is a pending transfer; `capture` posts it (possibly a smaller amount) and
`release` voids it. Every call carries an idempotency key derived from its cause (`gen:<id>:hold`,
`stars:<charge id>`, ...): the same key always gives the same outcome, a remembered rejection included.
A user wallet never goes below zero: the check and the change are one conditional UPDATE inside the
transaction, which holds the row lock on PostgreSQL; on SQLite `BEGIN IMMEDIATE` serialises writers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import AccountDirectory, Operator
from aistudio.billing.errors import (
    CaptureExceedsHold,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    UnknownAccount,
    error_from_code,
)
from aistudio.billing.ledger_sql import (
    AVAILABLE_OF,
    FIND_HOLD,
    FIND_KEY,
    INSERT_REJECTION,
    INSERT_TRANSFER,
    OPEN_OPERATOR,
    OPERATOR_OF,
    SPEND,
    WALLET_OF,
)
from aistudio.db.rawsql import DuplicateKey, RawDb, RawTx, TransientConflict
from aistudio.db.sql import utcnow

# Hold statuses once resolved; money-moving rows are "posted", release rows are "voided" (they move nothing).
PENDING, POSTED, VOIDED = "pending", "posted", "voided"
CAPTURED, RELEASED = "captured", "released"


@dataclass(frozen=True)
class TransferResult:
    """The outcome of a ledger call. `duplicate` is True when the key had been used before."""

    transfer_id: int
    key: str
    kind: str
    amount: int
    status: str
    duplicate: bool = False


@dataclass(frozen=True)
class _Intent:
    key: str
    kind: str
    amount: int
    debit_id: int | None = None
    credit_id: int | None = None


class LedgerCore:
    """State and internals shared by the ledger's operations."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        hold_ttl: timedelta = timedelta(hours=3),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.db = RawDb(engine)
        self._pg = self.db.dialect == "postgresql"
        self.accounts = AccountDirectory(engine)
        self._hold_ttl = hold_ttl
        self._clock = clock

    # ---- internals ---------------------------------------------------------------------------------

    async def _operator(self, tx: RawTx, account: Operator) -> int:
        """An operator account's id, created on first use, looked up inside the current transaction.

        (A lookup in a separate transaction would wait on SQLite's write lock held by this one.)
        """
        cached = self.accounts.cached_operator(account)
        if cached is not None:
            return cached
        await tx.execute(OPEN_OPERATOR, code=account.value, now=self._clock())
        row = await tx.fetchrow(OPERATOR_OF, code=account.value)
        assert row is not None
        self.accounts.remember_operator(account, row[0])
        return row[0]

    async def _wallet(self, tx: RawTx, user_id: int) -> int:
        """The user's wallet account id (cached: ids never change)."""
        cached = self.accounts.cached_wallet(user_id)
        if cached is not None:
            return cached
        row = await tx.fetchrow(WALLET_OF, user_id=user_id)
        if row is None:
            raise UnknownAccount(f"user {user_id} has no wallet")
        self.accounts.remember_wallet(user_id, row[0])
        return row[0]

    async def _why_not(self, tx: RawTx, hold_key: str) -> LedgerError:
        row = await tx.fetchrow(FIND_HOLD, hold_key=hold_key)
        if row is None or row[0] != "hold":
            return HoldNotFound(f"no hold {hold_key!r}")
        if row[1] != PENDING:
            return HoldAlreadyResolved(f"hold {hold_key!r} is {row[1]}")
        return CaptureExceedsHold(f"capture exceeds hold {hold_key!r} of {row[2]}")

    async def _run(
        self,
        key: str,
        body: Callable[..., Awaitable[TransferResult]],
        tx: RawTx | None = None,
        *,
        single_statement: bool = False,
        optimistic: bool = True,
    ) -> TransferResult:
        """Run `body` in one transaction; a concurrent insert of the same key is answered from the winner.

        Given the caller's `tx`, run inside it: a refusal is raised at once and the caller's transaction
        decides (rolling back) what is kept. With `single_statement` on PostgreSQL, `body` changes money in one
        statement (PG_HOLD / PG_RESOLVE), so it runs without BEGIN/COMMIT: the statement is the transaction.
        """
        optimistic = optimistic and single_statement and self._pg
        if tx is not None:
            try:
                return await (body(tx, optimistic) if optimistic else body(tx))
            except _Rejected as exc:
                raise exc.error from None
        for attempt in range(3):
            rejected: _Rejected | None = None
            scope = self.db.single() if (single_statement and self._pg) else self.db.transaction()
            try:
                async with scope as tx:
                    try:
                        # After a duplicate-key refusal, look the key up first (it exists now).
                        return await (body(tx, attempt == 0) if optimistic else body(tx))
                    except _Rejected as exc:
                        # Nothing was changed before the refusal; commit so the rejection row is remembered.
                        rejected = exc
            except DuplicateKey as exc:
                if "idempotency_key" not in str(exc):
                    raise
                continue  # a concurrent call with the same key won; the next round reads its outcome
            except TransientConflict:
                continue  # PostgreSQL broke a lock cycle by rolling this call back: nothing was applied
            if rejected is not None:
                raise rejected.error
        raise LedgerError(f"could not settle key {key!r} after concurrent retries")

    async def _existing(self, tx: RawTx, intent: _Intent, *, check_amount: bool = True) -> TransferResult | None:
        row = await tx.fetchrow(FIND_KEY, key=intent.key)
        if row is None:
            return None
        src, transfer_id, kind, amount, status, debit_id, credit_id, shortfall, error = row
        if kind != intent.kind:
            raise IdempotencyConflict(f"key {intent.key!r} was used for {kind}")
        if src == "r":
            raise error_from_code(error, amount, shortfall)
        same = not check_amount or amount == intent.amount
        if intent.debit_id is not None:
            same = same and (debit_id, credit_id) == (intent.debit_id, intent.credit_id)
        if not same:
            raise IdempotencyConflict(f"key {intent.key!r} was used for {kind} of {amount}")
        return TransferResult(transfer_id, intent.key, kind, amount, status, duplicate=True)

    async def _insert(
        self,
        tx: RawTx,
        intent: _Intent,
        status: str,
        *,
        pending_id: int | None = None,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> TransferResult:
        row = await tx.fetchrow(
            INSERT_TRANSFER,
            key=intent.key,
            kind=intent.kind,
            debit=intent.debit_id,
            credit=intent.credit_id,
            amount=intent.amount,
            status=status,
            pending_id=pending_id,
            reason=reason,
            meta=meta,
            expires_at=expires_at,
            created_at=self._clock(),
        )
        assert row is not None
        transfer_id = row[0]
        return TransferResult(transfer_id, intent.key, intent.kind, intent.amount, status)

    async def _spend(self, tx: RawTx, intent: _Intent, wallet: int) -> None:
        if await tx.fetchrow(SPEND, wallet=wallet, amount=intent.amount) is None:
            await self._reject(tx, intent, await self._insufficient(tx, wallet, intent.amount))

    async def _available(self, tx: RawTx, wallet: int) -> int:
        row = await tx.fetchrow(AVAILABLE_OF, wallet=wallet)
        assert row is not None
        return int(row[0])

    async def _insufficient(self, tx: RawTx, wallet: int, amount: int) -> InsufficientFunds:
        return InsufficientFunds(amount, await self._available(tx, wallet))

    async def _reject(self, tx: RawTx, intent: _Intent, error: LedgerError) -> None:
        """Remember why `intent.key` was refused (so a retry gets the same answer), then refuse."""
        shortfall = error.shortfall if isinstance(error, InsufficientFunds) else 0
        await tx.execute(
            INSERT_REJECTION,
            key=intent.key,
            kind=intent.kind,
            error=error.code,
            amount=intent.amount,
            shortfall=shortfall,
            created_at=self._clock(),
        )
        raise _Rejected(error)


class _Rejected(Exception):
    """Carries a rejection out of the transaction so the rejection row is committed, not rolled back."""

    def __init__(self, error: LedgerError) -> None:
        self.error = error


def _check_amount(amount: int, *, allow_zero: bool) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("amounts are integer kopecks")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError(f"invalid amount {amount}")
