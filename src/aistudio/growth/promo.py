"""Promo codes: a fixed rouble credit now, or a percentage bonus on the user's next paid top-up.

Limits: total uses (`max_uses`), once per user (the unique (code, user) redemption), an expiry time and an
active flag. Redeeming counts the use with a guarded `UPDATE … WHERE uses < max_uses` and records the
redemption in the same transaction, so concurrent redemptions never exceed the limit and a user's second
attempt changes nothing. Money moves afterwards through the ledger under keys that make every retry a
no-op: `promo:<CODE>:<user>` for a fixed code, `promo-bonus:<payment_id>` for a percentage bonus.

A fixed code's redemption is recorded as `pending_credit` and becomes `credited` only after the ledger credit,
so a crash between the two leaves a row that `settle_credits` (a periodic job) or the user's next attempt at the
same code finishes, both under the same ledger key; a percentage bonus interrupted mid-way is finished when
`TopupService` re-runs the hook for that payment.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.sql import as_utc, insert_ignore, utcnow
from aistudio.db.tables import admin_audit, payments, promo_codes, promo_redemptions
from aistudio.payments.topups import TopupCredited

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,31}$")  # also valid inside a `/start promo_<CODE>` deep link
PENDING_CREDIT = "pending_credit"  # a fixed code redeemed, its credit not yet made


class PromoKind(StrEnum):
    FIXED = "fixed"
    PERCENT = "percent"


class Refusal(StrEnum):
    """Why a code was not redeemed; each has its own message."""

    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    ALREADY_USED = "already_used"


class InvalidPromo(ValueError):
    """An admin asked for a code that can't exist; `reason` names the message (bad_code, exists, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PromoCode:
    code: str
    kind: str
    amount_kopecks: int
    percent: int
    max_uses: int | None
    uses: int
    expires_at: datetime | None
    is_active: bool
    created_at: datetime

    def refusal(self, now: datetime) -> Refusal | None:
        """Why nobody may redeem it now, if so (the per-user rule is checked separately)."""
        if not self.is_active:
            return Refusal.INACTIVE
        if self.expires_at is not None and self.expires_at <= now:
            return Refusal.EXPIRED
        if self.max_uses is not None and self.uses >= self.max_uses:
            return Refusal.EXHAUSTED
        return None


@dataclass(frozen=True)
class RedeemOutcome:
    code: str
    refusal: Refusal | None = None
    kind: str = ""
    amount_kopecks: int = 0  # credited now (fixed codes)
    percent: int = 0  # promised on the next top-up (percent codes)

    @property
    def ok(self) -> bool:
        return self.refusal is None


def normalize_code(raw: str) -> str | None:
    """The canonical (upper-case) form of a typed code, or None when it can't be a code at all."""
    code = raw.strip().upper()
    return code if CODE_RE.match(code) else None


def promo_key(code: str, user_id: int) -> str:
    return f"promo:{code}:{user_id}"


def promo_bonus_key(payment_id: int) -> str:
    return f"promo-bonus:{payment_id}"


def _code(row: Any) -> PromoCode:
    return PromoCode(
        row.code, row.kind, row.amount_kopecks, row.percent, row.max_uses, row.uses,
        as_utc(row.expires_at), bool(row.is_active), as_utc(row.created_at) or row.created_at,
    )  # fmt: skip


class _Lost(Exception):
    """The guarded claim found nothing to take (limit reached, or the code changed meanwhile)."""


class _Repeated(Exception):
    """The user's redemption of this code already exists (a concurrent second attempt)."""


class PromoCodes:
    """Creating, listing, deactivating and redeeming codes; `apply_topup_bonus` is the top-up hook."""

    def __init__(self, engine: AsyncEngine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger

    # --- the admin's side -------------------------------------------------------------------------------

    async def create(
        self,
        code: str,
        kind: PromoKind | str,
        *,
        amount_kopecks: int = 0,
        percent: int = 0,
        max_uses: int | None = None,
        expires_at: datetime | None = None,
        created_by: int | None = None,
    ) -> PromoCode:
        name = normalize_code(code)
        if name is None:
            raise InvalidPromo("bad_code")
        if kind not in (PromoKind.FIXED, PromoKind.PERCENT):
            raise InvalidPromo("bad_kind")
        if kind == PromoKind.FIXED and amount_kopecks <= 0:
            raise InvalidPromo("bad_amount")
        if kind == PromoKind.PERCENT and not 1 <= percent <= 100:
            raise InvalidPromo("bad_percent")
        if max_uses is not None and max_uses < 1:
            raise InvalidPromo("bad_uses")
        values = {
            "code": name,
            "kind": str(kind),
            "amount_kopecks": amount_kopecks if kind == PromoKind.FIXED else 0,
            "percent": percent if kind == PromoKind.PERCENT else 0,
            "max_uses": max_uses,
            "expires_at": expires_at,
        }
        now = utcnow()
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert_ignore(conn, promo_codes, ["code"]).values(
                    **values, uses=0, is_active=True, created_by=created_by, created_at=now
                )
            )
            if inserted.rowcount == 0:
                raise InvalidPromo("exists")
            await _audit(conn, created_by, "promo.create", name, None, values)
        found = await self.get(name)
        assert found is not None
        return found

    async def get(self, code: str) -> PromoCode | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(promo_codes).where(promo_codes.c.code == code))).first()
        return _code(row) if row else None

    async def list_codes(self, *, limit: int = 50) -> list[PromoCode]:
        """The newest codes first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(promo_codes).order_by(promo_codes.c.created_at.desc(), promo_codes.c.code).limit(limit)
            )
            return [_code(r) for r in rows]

    async def deactivate(self, code: str, *, admin_id: int | None = None) -> PromoCode | None:
        """Switch a code off (redemptions made stay valid); returns it as it was, or None if unknown."""
        name = normalize_code(code)
        before = await self.get(name) if name else None
        if before is not None:
            async with self.engine.begin() as conn:
                await conn.execute(sa.update(promo_codes).where(promo_codes.c.code == name).values(is_active=False))
                was = {"is_active": before.is_active}
                await _audit(conn, admin_id, "promo.deactivate", before.code, was, {"is_active": False})
        return before

    # --- the user's side --------------------------------------------------------------------------------

    async def redeem(self, raw_code: str, user_id: int, *, now: datetime | None = None) -> RedeemOutcome:
        """Redeem a code for a user: once per user, within the limits; safe to repeat."""
        now = now or utcnow()
        code = normalize_code(raw_code)
        if code is None:
            return RedeemOutcome(raw_code.strip()[:32], Refusal.UNKNOWN)
        promo = await self.get(code)
        if promo is None:
            return RedeemOutcome(code, Refusal.UNKNOWN)
        earlier = await self._redemption(code, user_id)
        if earlier is not None:
            return await self._repeat(promo, earlier, user_id)
        if (refusal := promo.refusal(now)) is not None:
            return RedeemOutcome(code, refusal)
        amount = promo.amount_kopecks if promo.kind == PromoKind.FIXED else 0
        try:
            async with self.engine.begin() as conn:
                claimed = await conn.execute(
                    sa.update(promo_codes)
                    .where(
                        promo_codes.c.code == code,
                        promo_codes.c.is_active.is_(True),
                        sa.or_(promo_codes.c.max_uses.is_(None), promo_codes.c.uses < promo_codes.c.max_uses),
                        sa.or_(promo_codes.c.expires_at.is_(None), promo_codes.c.expires_at > now),
                    )
                    .values(uses=promo_codes.c.uses + 1)
                )
                if claimed.rowcount == 0:
                    raise _Lost
                inserted = await conn.execute(
                    insert_ignore(conn, promo_redemptions, ["code", "user_id"]).values(
                        code=code,
                        user_id=user_id,
                        status=PENDING_CREDIT if promo.kind == PromoKind.FIXED else "pending",
                        amount_kopecks=amount,
                        created_at=now,
                    )
                )
                if inserted.rowcount == 0:
                    raise _Repeated  # rolls the use back: the earlier attempt counted it
        except _Lost:
            latest = await self.get(code)
            return RedeemOutcome(code, (latest.refusal(now) if latest else None) or Refusal.EXHAUSTED)
        except _Repeated:
            return RedeemOutcome(code, Refusal.ALREADY_USED)
        if promo.kind == PromoKind.FIXED:
            await self._credit_fixed(code, user_id, amount)
        log.info("promo %s redeemed by user %s", code, user_id)
        return RedeemOutcome(code, None, promo.kind, amount, promo.percent)

    async def _redemption(self, code: str, user_id: int) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(promo_redemptions).where(
                        promo_redemptions.c.code == code, promo_redemptions.c.user_id == user_id
                    )
                )
            ).first()

    async def _repeat(self, promo: PromoCode, earlier: Any, user_id: int) -> RedeemOutcome:
        # The credit of an interrupted redemption is owed: re-running it under its key either does it now
        # (and this attempt is the success the user never saw) or finds it done.
        fixed = promo.kind == PromoKind.FIXED and earlier.amount_kopecks > 0
        if fixed and await self._credit_fixed(promo.code, user_id, earlier.amount_kopecks):
            return RedeemOutcome(promo.code, None, promo.kind, earlier.amount_kopecks, 0)
        return RedeemOutcome(promo.code, Refusal.ALREADY_USED)

    async def _credit_fixed(self, code: str, user_id: int, amount: int) -> bool:
        """Credit a fixed code's amount once (its key), then mark the redemption credited; True if credited now."""
        result = await self.ledger.credit(
            promo_key(code, user_id), user_id, amount, Operator.PROMO, reason=f"promo {code}", meta={"code": code}
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(promo_redemptions)
                .where(promo_redemptions.c.code == code, promo_redemptions.c.user_id == user_id)
                .where(promo_redemptions.c.status == PENDING_CREDIT)
                .values(status="credited", applied_at=utcnow())
            )
        return not result.duplicate

    async def settle_credits(self, *, older_than: timedelta = timedelta(minutes=1), limit: int = 100) -> int:
        """Credit fixed redemptions a crash left uncredited (the periodic job); returns how many were found."""
        cutoff = utcnow() - older_than
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(promo_redemptions.c.code, promo_redemptions.c.user_id, promo_redemptions.c.amount_kopecks)
                    .where(promo_redemptions.c.status == PENDING_CREDIT, promo_redemptions.c.created_at < cutoff)
                    .order_by(promo_redemptions.c.id)
                    .limit(limit)
                )
            ).all()
        for row in rows:
            if await self._credit_fixed(row.code, row.user_id, row.amount_kopecks):
                log.warning("promo %s: credited user %s's interrupted redemption", row.code, row.user_id)
        return len(rows)

    async def pending_percent(self, user_id: int) -> list[tuple[str, int]]:
        """The user's percentage codes still waiting for a top-up, oldest first: (code, percent)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(promo_redemptions.c.code, promo_codes.c.percent)
                .join(promo_codes, promo_codes.c.code == promo_redemptions.c.code)
                .where(promo_redemptions.c.user_id == user_id, promo_redemptions.c.status == "pending")
                .order_by(promo_redemptions.c.created_at, promo_redemptions.c.id)
            )
            return [(r.code, r.percent) for r in rows]

    # --- the top-up hook --------------------------------------------------------------------------------

    async def apply_topup_bonus(self, event: TopupCredited) -> None:
        """Apply the user's oldest pending percentage code to this paid top-up (one code per top-up).

        Idempotent per payment: the redemption is first tied to the payment (a guarded update), then the bonus
        is credited under `promo-bonus:<payment_id>`; a re-run finds the tied redemption and only finishes it.
        """
        redemption = await self._tied_to(event.payment_id) or await self._tie_oldest(event)
        if redemption is None:
            return
        await self.ledger.credit(
            promo_bonus_key(event.payment_id),
            event.user_id,
            redemption.amount_kopecks,
            Operator.PROMO,
            reason=f"promo {redemption.code}",
            meta={"code": redemption.code, "payment_id": event.payment_id},
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(promo_redemptions)
                .where(promo_redemptions.c.id == redemption.id, promo_redemptions.c.status == "pending")
                .values(status="applied", applied_at=utcnow())
            )
        log.info("promo %s: bonus for payment %s", redemption.code, event.payment_id)

    async def _tied_to(self, payment_id: int) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(sa.select(promo_redemptions).where(promo_redemptions.c.payment_id == payment_id))
            ).first()

    async def _tie_oldest(self, event: TopupCredited) -> Any:
        async with self.engine.connect() as conn:
            paid_at = (
                await conn.execute(sa.select(payments.c.created_at).where(payments.c.id == event.payment_id))
            ).scalar_one_or_none()
        for code, percent in await self.pending_percent(event.user_id):
            bonus = event.amount_kopecks * percent // 100
            if bonus <= 0:  # a top-up too small to earn a kopeck leaves the code waiting for a real one
                continue
            try:
                async with self.engine.begin() as conn:
                    tied = await conn.execute(
                        sa.update(promo_redemptions)
                        .where(
                            promo_redemptions.c.code == code,
                            promo_redemptions.c.user_id == event.user_id,
                            promo_redemptions.c.status == "pending",
                            promo_redemptions.c.payment_id.is_(None),
                            # Only a top-up paid after the code was redeemed (a late re-run of an old payment's
                            # hooks must not use it).
                            *([promo_redemptions.c.created_at <= paid_at] if paid_at is not None else []),
                        )
                        .values(payment_id=event.payment_id, amount_kopecks=bonus)
                    )
            except IntegrityError:  # a concurrent run of this hook tied another code to the payment first
                return await self._tied_to(event.payment_id)
            if tied.rowcount:
                return await self._tied_to(event.payment_id)
        return None


async def _audit(
    conn: AsyncConnection, admin_id: int | None, action: str, target: str, before: Any, after: Any
) -> None:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in value.items()}
        return value

    await conn.execute(
        sa.insert(admin_audit).values(
            admin_id=admin_id or 0,
            action=action,
            target=target,
            before=plain(before),
            after=plain(after),
            created_at=utcnow(),
        )
    )
