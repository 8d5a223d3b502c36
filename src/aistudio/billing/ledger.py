"""The ledger's operations: hold, capture, release, credit, debit, adjust, expiry of stale holds.

The design (two-phase transfers, idempotency keys with stable outcomes, the no-overdraft rule) and the
machinery live in `aistudio.billing.ledger_core`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import (
    HoldAlreadyResolved,
    IdempotencyConflict,
)
from aistudio.billing.ledger_core import (
    CAPTURED,
    PENDING,
    POSTED,
    RELEASED,
    VOIDED,
    LedgerCore,
    TransferResult,
    _check_amount,
    _Intent,
)
from aistudio.billing.ledger_sql import (
    ADD,
    CLOSE_HOLD,
    DELETE_TRANSFER,
    INSERT_AUDIT,
    PG_HOLD,
    PG_RESOLVE,
    RESERVE,
    SETTLE_PENDING,
    STALE_HOLDS,
)
from aistudio.db.rawsql import RawTx

__all__ = ["Ledger", "TransferResult"]


class Ledger(LedgerCore):
    """Moves money between accounts. Safe to call concurrently and to retry with the same key."""

    # ---- public operations -------------------------------------------------------------------------

    async def hold(
        self,
        key: str,
        user_id: int,
        amount: int,
        *,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        ttl: timedelta | None = None,
        tx: RawTx | None = None,
    ) -> TransferResult:
        """Reserve `amount` of the user's wallet (pending debit); raise `InsufficientFunds` if short.

        With `tx`, the hold joins the caller's transaction (a refusal then rolls back with it).
        """
        _check_amount(amount, allow_zero=False)

        async def body(tx: RawTx) -> TransferResult:
            revenue = await self._operator(tx, Operator.REVENUE)
            wallet = await self._wallet(tx, user_id)
            intent = _Intent(key, "hold", amount, wallet, revenue)
            # Always look the key up first: a retried hold must get its outcome without locking the wallet. (If
            # it locked the wallet first, its INSERT would wait on the hold row a concurrent capture is updating,
            # while that capture waits for the wallet: a deadlock the bank test found.)
            if (found := await self._existing(tx, intent)) is not None:
                return found
            expires_at = self._clock() + (ttl or self._hold_ttl)
            if self._pg:
                row = await tx.fetchrow(
                    PG_HOLD, key=key, wallet=wallet, credit=revenue, amount=amount, reason=reason, meta=meta,
                    expires_at=expires_at, created_at=self._clock(),
                )  # fmt: skip
                if row is None:
                    await self._reject(tx, intent, await self._insufficient(tx, wallet, amount))
                return TransferResult(row[0], key, "hold", amount, PENDING)
            # SQLite: insert first and lock the wallet last; a refused hold deletes its own uncommitted row.
            result = await self._insert(tx, intent, PENDING, reason=reason, meta=meta, expires_at=expires_at)
            if await tx.fetchrow(RESERVE, wallet=wallet, amount=amount) is None:
                await tx.execute(DELETE_TRANSFER, id=result.transfer_id)
                await self._reject(tx, intent, await self._insufficient(tx, wallet, amount))
            return result

        return await self._run(key, body, tx, single_statement=True, optimistic=False)

    async def capture(
        self, key: str, hold_key: str, amount: int | None = None, *, tx: RawTx | None = None
    ) -> TransferResult:
        """Post a hold: charge `amount` (default: all of it, never more) and return the rest to the wallet."""
        return await self._resolve(key, hold_key, amount, capture=True, tx=tx)

    async def release(
        self, key: str, hold_key: str, *, reason: str | None = None, tx: RawTx | None = None
    ) -> TransferResult:
        """Void a hold: the reserved money becomes available again; nothing is charged."""
        return await self._resolve(key, hold_key, None, capture=False, reason=reason, tx=tx)

    async def credit(
        self,
        key: str,
        user_id: int,
        amount: int,
        source: Operator,
        *,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> TransferResult:
        """Add money to a wallet from an operator account (top-up, bonus, promo, referral)."""
        _check_amount(amount, allow_zero=False)

        async def body(tx: RawTx) -> TransferResult:
            source_id = await self._operator(tx, source)
            wallet = await self._wallet(tx, user_id)
            intent = _Intent(key, "credit", amount, source_id, wallet)
            if (found := await self._existing(tx, intent)) is not None:
                return found
            await tx.execute(ADD, wallet=wallet, amount=amount)
            return await self._insert(tx, intent, POSTED, reason=reason, meta=meta)

        return await self._run(key, body)

    async def debit(
        self,
        key: str,
        user_id: int,
        amount: int,
        sink: Operator,
        *,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> TransferResult:
        """Take money out of a wallet into an operator account (a refunded top-up); never below zero."""
        _check_amount(amount, allow_zero=False)

        async def body(tx: RawTx) -> TransferResult:
            sink_id = await self._operator(tx, sink)
            wallet = await self._wallet(tx, user_id)
            intent = _Intent(key, "debit", amount, wallet, sink_id)
            if (found := await self._existing(tx, intent)) is not None:
                return found
            await self._spend(tx, intent, wallet)
            return await self._insert(tx, intent, POSTED, reason=reason, meta=meta)

        return await self._run(key, body)

    async def adjust(self, key: str, user_id: int, delta: int, *, admin_id: int, reason: str) -> TransferResult:
        """An admin's correction (+ or −) with a required reason, audited in the same transaction."""
        if not reason or not reason.strip():
            raise ValueError("an adjustment needs a reason")
        if delta == 0:
            raise ValueError("an adjustment must change the balance")
        amount = abs(delta)

        async def body(tx: RawTx) -> TransferResult:
            adjustments = await self._operator(tx, Operator.ADJUSTMENTS)
            wallet = await self._wallet(tx, user_id)
            debit, credit = (adjustments, wallet) if delta > 0 else (wallet, adjustments)
            intent = _Intent(key, "adjust", amount, debit, credit)
            if (found := await self._existing(tx, intent)) is not None:
                return found
            before = await self._available(tx, wallet)
            if delta > 0:
                await tx.execute(ADD, wallet=wallet, amount=amount)
            else:
                await self._spend(tx, intent, wallet)
            result = await self._insert(tx, intent, POSTED, reason=reason, meta={"admin_id": admin_id})
            await tx.execute(
                INSERT_AUDIT,
                admin_id=admin_id,
                action="balance.adjust",
                target=f"user:{user_id}",
                before={"available": before},
                after={"available": before + delta},
                reason=reason,
                created_at=self._clock(),
            )
            return result

        return await self._run(key, body)

    async def expire_holds(self, *, limit: int = 200) -> int:
        """Release every hold past its expiry (nobody resolved it); returns how many were released."""
        async with self.db.transaction() as tx:
            stale = await tx.fetchall(STALE_HOLDS, now=self._clock(), limit=limit)
        released = 0
        for hold_id, hold_key in stale:
            try:
                result = await self.release(f"expire:{hold_id}", hold_key, reason="hold expired")
            except HoldAlreadyResolved:
                continue  # resolved by its owner between our read and our release
            released += 0 if result.duplicate else 1
        return released

    # ---- two-phase resolution ----------------------------------------------------------------------

    async def _resolve(
        self,
        key: str,
        hold_key: str,
        amount: int | None,
        *,
        capture: bool,
        reason: str | None = None,
        tx: RawTx | None = None,
    ) -> TransferResult:
        if amount is not None:
            _check_amount(amount, allow_zero=True)
        kind = "capture" if capture else "release"

        async def earlier_outcome(tx: RawTx) -> TransferResult | None:
            """The key's earlier outcome wins; the amount is checked against it once the hold is known."""
            found = await self._existing(tx, _Intent(key, kind, amount or 0), check_amount=False)
            if found is not None and capture and amount is not None and found.amount != amount:
                raise IdempotencyConflict(f"key {key!r} captured {found.amount}, not {amount}")
            return found

        async def body(tx: RawTx, optimistic: bool = False) -> TransferResult:
            # Optimistic (PostgreSQL, first try): the statement itself refuses a used or refused key. A capture
            # locks the hold row, then the wallet — the one lock order in the ledger — so this cannot deadlock.
            if not (self._pg and optimistic) and (found := await earlier_outcome(tx)) is not None:
                return found
            new_status = CAPTURED if capture else RELEASED
            status = POSTED if capture else VOIDED
            if self._pg:
                row = await tx.fetchrow(
                    PG_RESOLVE, hold_key=hold_key, at_least=amount or 0, new_status=new_status, capture=capture,
                    charged=amount, key=key, kind=kind, status=status, reason=reason, now=self._clock(),
                )  # fmt: skip
                if row is None:
                    if optimistic and (found := await earlier_outcome(tx)) is not None:
                        return found
                    await self._reject(tx, _Intent(key, kind, amount or 0), await self._why_not(tx, hold_key))
                return TransferResult(row[0], key, kind, row[3], status)
            closed = await tx.fetchrow(CLOSE_HOLD, hold_key=hold_key, at_least=amount or 0, new_status=new_status)
            if closed is None:
                await self._reject(tx, _Intent(key, kind, amount or 0), await self._why_not(tx, hold_key))
            hold_id, debit_id, credit_id, held = closed
            charged = held if amount is None else amount
            intent = _Intent(key, kind, charged if capture else held, debit_id, credit_id)
            result = await self._insert(tx, intent, status, pending_id=hold_id, reason=reason)
            await tx.execute(SETTLE_PENDING, wallet=debit_id, held=held, charged=charged if capture else 0)
            return result

        return await self._run(key, body, tx, single_statement=True)
