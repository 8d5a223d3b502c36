"""Web dashboard sign-in: one-time login links, sessions, CSRF tokens.

`/web` in Telegram issues a random token valid ADMIN_LINK_TTL_SECONDS; only its sha256 is stored. Following
the link redeems it once (an atomic UPDATE … WHERE used_at IS NULL, so two tabs cannot both sign in) and
opens a session: a random cookie value whose sha256 is stored, valid ADMIN_SESSION_HOURS, with its own
CSRF token for forms. Every request re-checks that the admin is still listed in ADMIN_IDS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.sql import as_utc
from aistudio.db.tables import admin_login_tokens, admin_sessions

COOKIE_NAME = "aistudio_admin"
L, S = admin_login_tokens, admin_sessions


class LoginRefused(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    NOT_ADMIN = "not_admin"


@dataclass(frozen=True)
class NewSession:
    admin_id: int
    cookie: str  # the raw value for Set-Cookie; never stored
    expires_at: datetime


@dataclass(frozen=True)
class AdminSession:
    admin_id: int
    csrf_token: str
    expires_at: datetime

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(submitted.encode(), self.csrf_token.encode())


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_login_token(engine: AsyncEngine, admin_id: int, *, ttl_seconds: int, now: datetime) -> str:
    """A fresh one-time token for `admin_id`; the caller puts it in the link."""
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(L).values(
                token_hash=digest(token),
                admin_id=admin_id,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
        )
    return token


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/admin/login?token={token}"


async def redeem_login_token(
    engine: AsyncEngine, token: str, *, admin_ids: Iterable[int], session_hours: float, now: datetime
) -> NewSession | LoginRefused:
    """Spend the token once and open a session, or say why not (unknown, expired, used, not an admin)."""
    if not token or len(token) > 200:
        return LoginRefused.UNKNOWN
    token_hash = digest(token)
    async with engine.begin() as conn:
        spent = (
            await conn.execute(
                sa.update(L)
                .where(L.c.token_hash == token_hash, L.c.used_at.is_(None), L.c.expires_at > now)
                .values(used_at=now)
                .returning(L.c.admin_id)
            )
        ).scalar_one_or_none()
        if spent is None:
            row = (await conn.execute(sa.select(L.c.used_at).where(L.c.token_hash == token_hash))).first()
            if row is None:
                return LoginRefused.UNKNOWN
            return LoginRefused.USED if row.used_at is not None else LoginRefused.EXPIRED
        if spent not in set(admin_ids):
            return LoginRefused.NOT_ADMIN
        cookie = secrets.token_urlsafe(32)
        expires_at = now + timedelta(hours=session_hours)
        await conn.execute(
            sa.insert(S).values(
                session_hash=digest(cookie),
                admin_id=spent,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=expires_at,
                last_seen_at=now,
            )
        )
    return NewSession(spent, cookie, expires_at)


async def load_session(
    engine: AsyncEngine, cookie: str | None, *, admin_ids: Iterable[int], now: datetime
) -> AdminSession | None:
    """The live session behind a cookie, or None (no cookie, unknown, expired, or no longer an admin)."""
    if not cookie or len(cookie) > 200:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(S.c.admin_id, S.c.csrf_token, S.c.expires_at).where(S.c.session_hash == digest(cookie))
            )
        ).first()
    if row is None or row.admin_id not in set(admin_ids):
        return None
    expires_at = as_utc(row.expires_at)
    if expires_at is None or expires_at <= now:
        return None
    return AdminSession(row.admin_id, row.csrf_token, expires_at)


async def end_session(engine: AsyncEngine, cookie: str | None) -> None:
    if cookie:
        async with engine.begin() as conn:
            await conn.execute(sa.delete(S).where(S.c.session_hash == digest(cookie)))
