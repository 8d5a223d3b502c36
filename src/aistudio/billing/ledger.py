"""The append-only ledger: two-phase transfers of integer kopecks with idempotency keys.

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

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.billing.accounts import AccountDirectory, Operator
from aistudio.billing.errors import (
    CaptureExceedsHold,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    error_from_code,
)
from aistudio.db.sql import insert_ignore, is_unique_violation, utcnow
from aistudio.db.tables import admin_audit, ledger_accounts, ledger_rejections, ledger_transfers

T = ledger_transfers
A = ledger_accounts

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


class Ledger:
    """Moves money between accounts. Safe to call concurrently and to retry with the same key."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        hold_ttl: timedelta = timedelta(hours=3),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.accounts = AccountDirectory(engine)
        self._hold_ttl = hold_ttl
        self._clock = clock

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
    ) -> TransferResult:
        """Reserve `amount` of the user's wallet (pending debit); raise `InsufficientFunds` if short."""
        _check_amount(amount, allow_zero=False)
        revenue = await self.accounts.operator_id(Operator.REVENUE)

        async def body(conn: AsyncConnection) -> TransferResult:
            wallet = await self.accounts.wallet_id(conn, user_id)
            intent = _Intent(key, "hold", amount, wallet, revenue)
            if (found := await self._existing(conn, intent)) is not None:
                return found
            moved = await conn.execute(
                sa.update(A)
                .where(
                    A.c.id == wallet, A.c.credits_posted - A.c.debits_posted - A.c.debits_pending >= amount
                )
                .values(debits_pending=A.c.debits_pending + amount)
                .returning(A.c.id)
            )
            if moved.first() is None:
                await self._reject(conn, intent, await self._insufficient(conn, wallet, amount))
            now = self._clock()
            return await self._insert(
                conn, intent, PENDING, reason=reason, meta=meta, expires_at=now + (ttl or self._hold_ttl)
            )

        return await self._run(key, body)

    async def capture(self, key: str, hold_key: str, amount: int | None = None) -> TransferResult:
        """Post a hold: charge `amount` (default: all of it, never more) and return the rest to the wallet."""
        return await self._resolve(key, hold_key, amount, capture=True)

    async def release(self, key: str, hold_key: str, *, reason: str | None = None) -> TransferResult:
        """Void a hold: the reserved money becomes available again; nothing is charged."""
        return await self._resolve(key, hold_key, None, capture=False, reason=reason)

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
        source_id = await self.accounts.operator_id(source)

        async def body(conn: AsyncConnection) -> TransferResult:
            wallet = await self.accounts.wallet_id(conn, user_id)
            intent = _Intent(key, "credit", amount, source_id, wallet)
            if (found := await self._existing(conn, intent)) is not None:
                return found
            await conn.execute(
                sa.update(A).where(A.c.id == wallet).values(credits_posted=A.c.credits_posted + amount)
            )
            return await self._insert(conn, intent, POSTED, reason=reason, meta=meta)

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
        sink_id = await self.accounts.operator_id(sink)

        async def body(conn: AsyncConnection) -> TransferResult:
            wallet = await self.accounts.wallet_id(conn, user_id)
            intent = _Intent(key, "debit", amount, wallet, sink_id)
            if (found := await self._existing(conn, intent)) is not None:
                return found
            await self._debit_with_floor(conn, intent, wallet)
            return await self._insert(conn, intent, POSTED, reason=reason, meta=meta)

        return await self._run(key, body)

    async def adjust(
        self, key: str, user_id: int, delta: int, *, admin_id: int, reason: str
    ) -> TransferResult:
        """An admin's correction (+ or −) with a required reason, audited in the same transaction."""
        if not reason or not reason.strip():
            raise ValueError("an adjustment needs a reason")
        if delta == 0:
            raise ValueError("an adjustment must change the balance")
        adjustments = await self.accounts.operator_id(Operator.ADJUSTMENTS)
        amount = abs(delta)

        async def body(conn: AsyncConnection) -> TransferResult:
            wallet = await self.accounts.wallet_id(conn, user_id)
            if delta > 0:
                intent = _Intent(key, "adjust", amount, adjustments, wallet)
            else:
                intent = _Intent(key, "adjust", amount, wallet, adjustments)
            if (found := await self._existing(conn, intent)) is not None:
                return found
            before = await self._available(conn, wallet)
            if delta > 0:
                await conn.execute(
                    sa.update(A).where(A.c.id == wallet).values(credits_posted=A.c.credits_posted + amount)
                )
            else:
                await self._debit_with_floor(conn, intent, wallet)
            result = await self._insert(conn, intent, POSTED, reason=reason, meta={"admin_id": admin_id})
            await conn.execute(
                sa.insert(admin_audit).values(
                    admin_id=admin_id,
                    action="balance.adjust",
                    target=f"user:{user_id}",
                    before={"available": before},
                    after={"available": before + delta},
                    reason=reason,
                    created_at=self._clock(),
                )
            )
            return result

        return await self._run(key, body)

    async def expire_holds(self, *, limit: int = 200) -> int:
        """Release every hold past its expiry (nobody resolved it); returns how many were released."""
        now = self._clock()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(T.c.id, T.c.idempotency_key)
                .where(T.c.status == PENDING, T.c.expires_at < now)
                .order_by(T.c.expires_at)
                .limit(limit)
            )
            stale = rows.all()
        released = 0
        for hold_id, hold_key in stale:
            try:
                result = await self.release(f"expire:{hold_id}", hold_key, reason="hold expired")
            except HoldAlreadyResolved:
                continue  # resolved by its owner between our read and our release
            released += 0 if result.duplicate else 1
        return released

    # ---- internals ---------------------------------------------------------------------------------

    async def _resolve(
        self, key: str, hold_key: str, amount: int | None, *, capture: bool, reason: str | None = None
    ) -> TransferResult:
        if amount is not None:
            _check_amount(amount, allow_zero=True)
        kind = "capture" if capture else "release"

        async def body(conn: AsyncConnection) -> TransferResult:
            hold = (
                await conn.execute(
                    sa.select(
                        T.c.id, T.c.debit_account_id, T.c.credit_account_id, T.c.amount, T.c.status, T.c.kind
                    )
                    .where(T.c.idempotency_key == hold_key)
                    .with_for_update()
                )
            ).first()
            charged = (hold.amount if amount is None else amount) if hold is not None else (amount or 0)
            intent = _Intent(
                key,
                kind,
                charged if capture else (hold.amount if hold else 0),
                hold.debit_account_id if hold else None,
                hold.credit_account_id if hold else None,
            )
            if (found := await self._existing(conn, intent, check_amount=hold is not None)) is not None:
                return found
            if hold is None or hold.kind != "hold":
                await self._reject(conn, intent, HoldNotFound(f"no hold {hold_key!r}"))
            if hold.status != PENDING:
                await self._reject(conn, intent, HoldAlreadyResolved(f"hold {hold_key!r} is {hold.status}"))
            if charged > hold.amount:
                await self._reject(conn, intent, CaptureExceedsHold(f"{charged} > hold {hold.amount}"))
            await conn.execute(
                sa.update(T).where(T.c.id == hold.id).values(status=CAPTURED if capture else RELEASED)
            )
            values: dict[str, Any] = {"debits_pending": A.c.debits_pending - hold.amount}
            if capture:
                values["debits_posted"] = A.c.debits_posted + charged
            await conn.execute(sa.update(A).where(A.c.id == hold.debit_account_id).values(**values))
            return await self._insert(
                conn, intent, POSTED if capture else VOIDED, pending_id=hold.id, reason=reason
            )

        return await self._run(key, body)

    async def _run(
        self, key: str, body: Callable[[AsyncConnection], Awaitable[TransferResult]]
    ) -> TransferResult:
        """Run `body` in one transaction; a concurrent insert of the same key is answered from the winner."""
        for _ in range(3):
            rejected: _Rejected | None = None
            try:
                async with self.engine.begin() as conn:
                    try:
                        return await body(conn)
                    except _Rejected as exc:
                        # Nothing was changed before the refusal; commit so the rejection row is remembered.
                        rejected = exc
            except IntegrityError as exc:
                if not (
                    is_unique_violation(exc, "idempotency_key")
                    or is_unique_violation(exc, "ledger_rejections")
                ):
                    raise
                continue
            if rejected is not None:
                raise rejected.error
        raise LedgerError(f"could not settle key {key!r} after concurrent retries")

    async def _existing(
        self, conn: AsyncConnection, intent: _Intent, *, check_amount: bool = True
    ) -> TransferResult | None:
        row = (
            await conn.execute(
                sa.select(
                    T.c.id, T.c.kind, T.c.amount, T.c.status, T.c.debit_account_id, T.c.credit_account_id
                ).where(T.c.idempotency_key == intent.key)
            )
        ).first()
        if row is not None:
            same = row.kind == intent.kind and (not check_amount or row.amount == intent.amount)
            if intent.debit_id is not None:
                same = (
                    same
                    and row.debit_account_id == intent.debit_id
                    and row.credit_account_id == intent.credit_id
                )
            if not same:
                raise IdempotencyConflict(f"key {intent.key!r} was used for {row.kind} of {row.amount}")
            return TransferResult(row.id, intent.key, row.kind, row.amount, row.status, duplicate=True)
        rejected = (
            await conn.execute(
                sa.select(ledger_rejections).where(ledger_rejections.c.idempotency_key == intent.key)
            )
        ).first()
        if rejected is not None:
            if rejected.kind != intent.kind:
                raise IdempotencyConflict(f"key {intent.key!r} was used for {rejected.kind}")
            raise error_from_code(rejected.error, rejected.amount, rejected.shortfall)
        return None

    async def _insert(
        self,
        conn: AsyncConnection,
        intent: _Intent,
        status: str,
        *,
        pending_id: int | None = None,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> TransferResult:
        transfer_id = (
            await conn.execute(
                sa.insert(T)
                .values(
                    idempotency_key=intent.key,
                    kind=intent.kind,
                    debit_account_id=intent.debit_id,
                    credit_account_id=intent.credit_id,
                    amount=intent.amount,
                    status=status,
                    pending_id=pending_id,
                    reason=reason,
                    meta=meta,
                    expires_at=expires_at,
                    created_at=self._clock(),
                )
                .returning(T.c.id)
            )
        ).scalar_one()
        return TransferResult(transfer_id, intent.key, intent.kind, intent.amount, status)

    async def _debit_with_floor(self, conn: AsyncConnection, intent: _Intent, wallet: int) -> None:
        moved = await conn.execute(
            sa.update(A)
            .where(
                A.c.id == wallet, A.c.credits_posted - A.c.debits_posted - A.c.debits_pending >= intent.amount
            )
            .values(debits_posted=A.c.debits_posted + intent.amount)
            .returning(A.c.id)
        )
        if moved.first() is None:
            await self._reject(conn, intent, await self._insufficient(conn, wallet, intent.amount))

    async def _available(self, conn: AsyncConnection, wallet: int) -> int:
        row = (
            await conn.execute(
                sa.select(A.c.credits_posted - A.c.debits_posted - A.c.debits_pending).where(A.c.id == wallet)
            )
        ).scalar_one()
        return int(row)

    async def _insufficient(self, conn: AsyncConnection, wallet: int, amount: int) -> InsufficientFunds:
        return InsufficientFunds(amount, await self._available(conn, wallet))

    async def _reject(self, conn: AsyncConnection, intent: _Intent, error: LedgerError) -> None:
        """Remember why `intent.key` was refused (so a retry gets the same answer), then refuse."""
        shortfall = error.shortfall if isinstance(error, InsufficientFunds) else 0
        await conn.execute(
            insert_ignore(conn, ledger_rejections, ["idempotency_key"]).values(
                idempotency_key=intent.key,
                kind=intent.kind,
                error=error.code,
                amount=intent.amount,
                shortfall=shortfall,
                created_at=self._clock(),
            )
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
