"""Outer middlewares, one concern each: request id, user registration and language, bans, floods."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from aistudio.db.repo.users import upsert_user
from aistudio.generation.repo import new_request_id
from aistudio.i18n import pick_language
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class RequestIdMiddleware(BaseMiddleware):
    """Every update gets an `RQ-` id: in the logs, and in any error message the user sees."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["request_id"] = new_request_id()
        return await handler(event, data)


class UserMiddleware(BaseMiddleware):
    """Registers the user on first contact, refreshes the profile, and sets `user` and `lang`."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None or tg_user.is_bot:
            return await handler(event, data)
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
        data["user"] = user
        data["user_created"] = created
        data["lang"] = user.language
        if user.is_banned:
            return await self._refuse_banned(event, data)
        return await handler(event, data)

    async def _refuse_banned(self, event: TelegramObject, data: dict[str, Any]) -> None:
        # One polite answer per update kind, nothing else.
        text = self.services.t("common.banned", data["lang"])
        update = event if isinstance(event, Update) else None
        if update and update.message:
            await update.message.answer(text)
        elif update and update.callback_query:
            await update.callback_query.answer(text, show_alert=True)


class ThrottlingMiddleware(BaseMiddleware):
    """At most `rate` updates per second per user (with a burst); the first one over gets a polite note."""

    def __init__(self, services: BotServices, *, rate: float = 3.0, burst: int = 8) -> None:
        self.services = services
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float, bool]] = {}  # user → (tokens, updated, warned)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        if tg_user is None:
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
