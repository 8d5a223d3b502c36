"""Admin work on users: find, the card (balance, totals, recent activity), balance corrections, bans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin import audit
from aistudio.billing.errors import InsufficientFunds
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import Balance, wallet_balance
from aistudio.db.sql import as_utc
from aistudio.db.tables import generations, payments, users

MAX_ADJUST_KOPECKS = 10_000_000  # 100,000 ₽ in one correction: anything bigger is a typo
# "<amount> [₽] <reason>": up to 2 decimals, the number not glued to more digits ("0.001" is no amount).
_AMOUNT = re.compile(
    r"^\s*([+-]?\d{1,9}(?:[.,]\d{1,2})?)(?![\d.,])\s*(?:₽|руб\.?|rub\b)?\s*(.*)$", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class UserSummary:
    id: int
    username: str | None
    first_name: str | None
    is_banned: bool


@dataclass(frozen=True)
class GenerationLine:
    id: int
    request_id: str
    model_id: str
    state: str
    price_kopecks: int
    charged_kopecks: int
    created_at: datetime


@dataclass(frozen=True)
class PaymentLine:
    provider: str
    status: str
    amount_kopecks: int
    created_at: datetime


@dataclass(frozen=True)
class UserCard:
    user: UserSummary
    language: str
    created_at: datetime
    last_seen_at: datetime
    balance: Balance
    generations: int
    spent_kopecks: int  # what completed generations were charged
    paid_in_kopecks: int  # credited top-ups
    last_generations: list[GenerationLine]
    last_payments: list[PaymentLine]


class AdjustRefused(Exception):
    """A correction the admin must fix: `code` is not_a_number | zero | no_reason | too_large | exceeds_balance
    | unknown_user; `available` is set for exceeds_balance."""

    def __init__(self, code: str, *, available: int = 0) -> None:
        self.code = code
        self.available = available
        super().__init__(code)


@dataclass(frozen=True)
class Adjustment:
    delta_kopecks: int
    reason: str


def _summary(row: sa.Row) -> UserSummary:
    return UserSummary(row.id, row.username, row.first_name, bool(row.is_banned))


async def find_users(engine: AsyncEngine, query: str, *, limit: int = 10) -> list[UserSummary]:
    """By numeric id, by @username (exact, any case), else by a part of the name or username (any case)."""
    q = query.strip()
    u = users
    if not q:
        return []
    if q.lstrip("-").isdigit():
        where = u.c.id == int(q)
    elif q.startswith("@"):
        where = sa.func.lower(u.c.username) == q[1:].lower()
    else:
        needle = q.lower()
        where = sa.or_(
            sa.func.lower(u.c.first_name).contains(needle, autoescape=True),
            sa.func.lower(u.c.username).contains(needle, autoescape=True),
        )
    select = sa.select(u.c.id, u.c.username, u.c.first_name, u.c.is_banned).where(where).order_by(u.c.id).limit(limit)
    async with engine.connect() as conn:
        return [_summary(r) for r in (await conn.execute(select)).all()]


async def user_card(engine: AsyncEngine, user_id: int, *, recent: int = 5) -> UserCard | None:
    g, p = generations, payments
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
        if row is None:
            return None
        count, spent = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(g.c.charged_kopecks), 0)).where(
                    g.c.user_id == user_id
                )
            )
        ).one()
        paid_in = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(p.c.amount_kopecks), 0)).where(
                    p.c.user_id == user_id, p.c.status == "credited"
                )
            )
        ).scalar_one()
        gens = (
            await conn.execute(
                sa.select(g.c.id, g.c.request_id, g.c.model_id, g.c.state, g.c.price_kopecks, g.c.charged_kopecks,
                          g.c.created_at)
                .where(g.c.user_id == user_id)
                .order_by(g.c.created_at.desc(), g.c.id.desc())
                .limit(recent)
            )
        ).all()  # fmt: skip
        pays = (
            await conn.execute(
                sa.select(p.c.provider, p.c.status, p.c.amount_kopecks, p.c.created_at)
                .where(p.c.user_id == user_id)
                .order_by(p.c.created_at.desc(), p.c.id.desc())
                .limit(recent)
            )
        ).all()
    return UserCard(
        user=_summary(row),
        language=row.language,
        created_at=as_utc(row.created_at) or row.created_at,
        last_seen_at=as_utc(row.last_seen_at) or row.last_seen_at,
        balance=await wallet_balance(engine, user_id),
        generations=int(count),
        spent_kopecks=int(spent),
        paid_in_kopecks=int(paid_in),
        last_generations=[
            GenerationLine(
                r.id,
                r.request_id,
                r.model_id,
                r.state,
                r.price_kopecks,
                r.charged_kopecks,
                as_utc(r.created_at) or r.created_at,
            )
            for r in gens
        ],
        last_payments=[
            PaymentLine(r.provider, r.status, r.amount_kopecks, as_utc(r.created_at) or r.created_at) for r in pays
        ],
    )


def parse_adjustment(text: str) -> Adjustment:
    """`+150 compensation`, `-50.5 duplicate bonus`, `200 ₽ goodwill` → kopecks and reason; or AdjustRefused."""
    match = _AMOUNT.match(text or "")
    if match is None:
        raise AdjustRefused("not_a_number")
    try:
        rub = Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise AdjustRefused("not_a_number") from None
    kopecks = int(rub * 100)
    if kopecks == 0:
        raise AdjustRefused("zero")
    if abs(kopecks) > MAX_ADJUST_KOPECKS:
        raise AdjustRefused("too_large")
    reason = match.group(2).strip()
    if not reason:
        raise AdjustRefused("no_reason")
    return Adjustment(kopecks, reason[:500])


async def adjust_balance(
    engine: AsyncEngine, ledger: Ledger, *, key: str, admin_id: int, user_id: int, adjustment: Adjustment
) -> Balance:
    """Correct a wallet through the ledger (which writes the audit row); a debit never goes below zero."""
    async with engine.connect() as conn:
        exists = (await conn.execute(sa.select(users.c.id).where(users.c.id == user_id))).first()
    if exists is None:
        raise AdjustRefused("unknown_user")
    await ledger.accounts.open_wallet(user_id)
    before = await wallet_balance(engine, user_id)
    if adjustment.delta_kopecks < 0 and -adjustment.delta_kopecks > before.available:
        raise AdjustRefused("exceeds_balance", available=before.available)
    try:
        await ledger.adjust(key, user_id, adjustment.delta_kopecks, admin_id=admin_id, reason=adjustment.reason)
    except InsufficientFunds as exc:  # spent meanwhile
        raise AdjustRefused("exceeds_balance", available=exc.available) from None
    return await wallet_balance(engine, user_id)


async def set_banned(engine: AsyncEngine, *, admin_id: int, user_id: int, banned: bool) -> bool:
    """Ban or unban (audited); the ban notice is reset so the user is told once again. False if unchanged."""
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(users.c.is_banned).where(users.c.id == user_id))).first()
        if row is None or bool(row.is_banned) == banned:
            return False
        await conn.execute(
            sa.update(users).where(users.c.id == user_id).values(is_banned=banned, banned_notice_at=None)
        )
        await audit.record(
            conn, admin_id=admin_id, action="user.ban" if banned else "user.unban", target=f"user:{user_id}",
            before={"is_banned": not banned}, after={"is_banned": banned},
        )  # fmt: skip
    return True
