"""Users: registration on first contact, profile refresh, language choice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from aistudio.db.sql import as_utc, insert_ignore, utcnow
from aistudio.db.tables import users


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str | None
    first_name: str | None
    language: str
    language_explicit: bool
    is_banned: bool
    referral_code: str | None
    referred_by: int | None
    created_at: datetime


def _row(r: sa.Row) -> UserRow:
    return UserRow(
        r.id, r.username, r.first_name, r.language, bool(r.language_explicit), bool(r.is_banned),
        r.referral_code, r.referred_by, as_utc(r.created_at) or r.created_at,
    )  # fmt: skip


async def upsert_user(
    conn: AsyncConnection,
    user_id: int,
    *,
    username: str | None = None,
    first_name: str | None = None,
    language: str = "ru",
    start_payload: str | None = None,
) -> tuple[UserRow, bool]:
    """Register the user if new; refresh name and last-seen otherwise. Returns (user, created)."""
    now = utcnow()
    inserted = await conn.execute(
        insert_ignore(conn, users, ["id"])
        .values(
            id=user_id,
            username=username,
            first_name=first_name,
            language=language,
            referral_code=secrets.token_hex(4),
            start_payload=start_payload,
            created_at=now,
            last_seen_at=now,
        )
        .returning(users.c.id)
    )
    created = inserted.first() is not None
    if not created:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(username=username, first_name=first_name, last_seen_at=now)
        )
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).one()
    return _row(row), created


async def get_user(conn: AsyncConnection, user_id: int) -> UserRow | None:
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
    return _row(row) if row else None


async def set_language(conn: AsyncConnection, user_id: int, language: str) -> None:
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(language=language, language_explicit=True))
