"""Outer middlewares, one concern each: request id, user registration and language, bans, floods."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from aistudio.db.rawsql import RawDb, Sql, read_datetime
from aistudio.db.repo.users import UserRow, upsert_user
from aistudio.db.sql import utcnow
from aistudio.generation.repo import new_request_id
from aistudio.i18n import pick_language
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# How stale `last_seen_at` may get: the admin's "active today" counts need minutes, not every update.
TOUCH_EVERY = timedelta(seconds=60)
SELECT_USER = Sql(
    "SELECT id, username, first_name, language, language_explicit, is_banned, referral_code, referred_by, "
    "created_at, last_seen_at, banned_notice_at FROM users WHERE id = :id"
)
TOUCH = Sql("UPDATE users SET username = :username, first_name = :first_name, last_seen_at = :now WHERE id = :id")
CLAIM_NOTICE = Sql(
    "UPDATE users SET banned_notice_at = :now WHERE id = :id AND is_banned AND banned_notice_at IS NULL RETURNING id"
)


def _user_row(r: Sequence[Any]) -> UserRow:
    created = read_datetime(r[8])
    assert created is not None  # NOT NULL
    return UserRow(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6], r[7], created)


def carries_money(event: TelegramObject) -> bool:
    """A successful payment or a refund: Telegram sends it once, and dropping it would lose the money."""
    message = event.message if isinstance(event, Update) else None
    return message is not None and (message.successful_payment is not None or message.refunded_payment is not None)


class RequestIdMiddleware(BaseMiddleware):
    """Every update gets an `RQ-` id: in the logs, and in any error message the user sees."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["request_id"] = new_request_id()
        return await handler(event, data)


class UserMiddleware(BaseMiddleware):
    """Registers the user on first contact, refreshes the profile, and sets `user` and `lang`.

    The common case costs one read on the raw driver: the profile is written only when the name changed or
    `last_seen_at` is older than `TOUCH_EVERY` (the admin's "active today" needs it to the minute, not to
    the update). The row is read on every update, so a ban or a language change made by another process
    applies to the next update.
    """

    def __init__(self, services: BotServices) -> None:
        self.services = services
        self.db = RawDb(services.engine)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
        user, notice_at, created = await self._user(tg_user)
        data["user"] = user
        data["user_created"] = created
        data["lang"] = user.language
        if user.is_banned and not carries_money(event):  # a payment already made is still credited
            return await self._refuse_banned(event, data, notified=notice_at is not None)
        return await handler(event, data)

    async def _user(self, tg_user: User) -> tuple[UserRow, datetime | None, bool]:
        async with self.db.reading() as tx:
            row = await tx.fetchrow(SELECT_USER, id=tg_user.id)
        if row is None:
            return await self._register(tg_user)
        now = utcnow()
        user = _user_row(row)
        seen = read_datetime(row[9])
        if (
            user.username != tg_user.username
            or user.first_name != tg_user.first_name
            or seen is None
            or now - seen >= TOUCH_EVERY
        ):
            async with self.db.single() as tx:
                await tx.execute(
                    TOUCH, id=tg_user.id, username=tg_user.username, first_name=tg_user.first_name, now=now
                )
            user = replace(user, username=tg_user.username, first_name=tg_user.first_name)
        return user, read_datetime(row[10]), False

    async def _register(self, tg_user: User) -> tuple[UserRow, datetime | None, bool]:
        async with self.services.engine.begin() as conn:
            user, created = await upsert_user(
                conn,
                tg_user.id,
                username=tg_user.username,
                first_name=tg_user.first_name,
                language=pick_language(tg_user.language_code),
            )
        if created:
            await self.services.ledger.accounts.open_wallet(user.id)
        return user, None, created

    async def _refuse_banned(self, event: TelegramObject, data: dict[str, Any], *, notified: bool) -> None:
        """The first update after a ban gets one polite answer; every later one gets none at all (a callback
        query is still answered, silently, so the client's spinner stops)."""
        update = event if isinstance(event, Update) else None
        if update is None:
            return
        query = update.callback_query
        if update.pre_checkout_query is not None:  # Telegram waits for an answer: refuse the payment
            text = self.services.t("common.banned", data["lang"])
            await update.pre_checkout_query.answer(ok=False, error_message=text)
            return
        if (update.message is None and query is None) or notified or not await self._claim_notice(data["user"].id):
            if query is not None:
                await query.answer()
            return
        text = self.services.t("common.banned", data["lang"])
        if update.message is not None:
            await update.message.answer(text)
        elif query is not None:
            await query.answer(text, show_alert=True)

    async def _claim_notice(self, user_id: int) -> bool:
        """Mark the notice as sent; False when another update (or replica) already did."""
        async with self.db.single() as tx:
            return await tx.fetchrow(CLAIM_NOTICE, id=user_id, now=utcnow()) is not None


class ThrottlingMiddleware(BaseMiddleware):
    """At most `rate` updates per second per user (with a burst); the first one over gets a polite note."""

    def __init__(self, services: BotServices, *, rate: float = 3.0, burst: int = 8) -> None:
        self.services = services
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float, bool]] = {}  # user → (tokens, updated, warned)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        # Payment updates are never throttled: a pre-checkout must be answered, a payment must be recorded.
        if tg_user is None or carries_money(event) or (isinstance(event, Update) and event.pre_checkout_query):
            return await handler(event, data)
        now = time.monotonic()
        tokens, updated, warned = self._buckets.get(tg_user.id, (float(self.burst), now, False))
        tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
        if tokens < 1:
            if not warned:
                self._buckets[tg_user.id] = (tokens, now, True)
                await self._warn(event, data)
            return None
        self._buckets[tg_user.id] = (tokens - 1, now, False)
        if len(self._buckets) > 100_000:  # forget idle users now and then
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        return await handler(event, data)

    async def _warn(self, event: TelegramObject, data: dict[str, Any]) -> None:
        lang = pick_language(getattr(data.get("event_from_user"), "language_code", None))
        text = self.services.t("common.too_fast", lang)
        update = event if isinstance(event, Update) else None
        if update and isinstance(update.message, Message):
            await update.message.answer(text)
        elif update and isinstance(update.callback_query, CallbackQuery):
            await update.callback_query.answer(text)
