"""Broadcast segments: who "all", "active7", "paid", ... name, as conditions on `users`.

Banned users are never in any segment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from aistudio.db.tables import ledger_accounts, payments, users

SEGMENTS = ("all", "active7", "active30", "paid", "balance", "lang:ru", "lang:en")
PAID_PROVIDERS = ("stars", "yookassa", "manual")  # money really paid (not a promo credit)


class UnknownSegment(ValueError):
    pass


def segment_condition(segment: str, now: datetime) -> sa.ColumnElement[bool]:
    """Who a segment names, as a condition on `users` (banned users are never included)."""
    not_banned = users.c.is_banned == sa.false()
    if segment == "all":
        return not_banned
    if segment in ("active7", "active30"):
        days = 7 if segment == "active7" else 30
        return sa.and_(not_banned, users.c.last_seen_at >= now - timedelta(days=days))
    if segment == "paid":
        paid = sa.exists().where(
            payments.c.user_id == users.c.id,
            payments.c.status == "credited",
            payments.c.provider.in_(PAID_PROVIDERS),
        )
        return sa.and_(not_banned, paid)
    if segment == "balance":
        a = ledger_accounts.c
        positive = sa.exists().where(
            a.user_id == users.c.id, a.kind == "wallet", a.credits_posted - a.debits_posted - a.debits_pending > 0
        )
        return sa.and_(not_banned, positive)
    if segment.startswith("lang:") and segment in SEGMENTS:
        return sa.and_(not_banned, users.c.language == segment.removeprefix("lang:"))
    raise UnknownSegment(segment)
