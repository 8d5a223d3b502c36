"""Broadcasts over Telegram: sending one copy (users and the admin's preview get the same call), the
admin's progress message, and the texts and buttons of broadcast screens."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.broadcast_sender import BroadcastSender, Outcome
from aistudio.admin.broadcasts import Broadcast, BroadcastStore, Delivery, Draft, Status
from aistudio.config import Settings
from aistudio.db.repo.users import get_user
from aistudio.i18n import Translator
from aistudio.ops.jobs import PeriodicJob
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.send_limiter import TELEGRAM_GLOBAL_RATE, make_send_limiter

log = logging.getLogger(__name__)

# A user who deleted their account or never opened the bot is as unreachable as one who blocked it.
_UNREACHABLE = ("chat not found", "user is deactivated", "bot was blocked", "user not found")


def draft_keyboard(draft: Draft) -> InlineKeyboardMarkup | None:
    if draft.button_text and draft.button_url:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=draft.button_text, url=draft.button_url)]]
        )
    return None


async def send_draft(bot: Bot, chat_id: int, draft: Draft) -> Message:
    """One copy of the broadcast: a photo with the text as caption, or a text message (HTML mode)."""
    markup = draft_keyboard(draft)
    if draft.photo_file_id:
        return await bot.send_photo(chat_id, draft.photo_file_id, caption=draft.text, reply_markup=markup)
    return await bot.send_message(chat_id, draft.text, reply_markup=markup)


class TelegramTransport:
    """Maps Telegram's answers to delivery outcomes for the sender."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, user_id: int, broadcast: Broadcast) -> Outcome:
        try:
            message = await send_draft(self.bot, user_id, broadcast.draft)
        except TelegramRetryAfter as exc:
            return Outcome(None, retry_after=float(exc.retry_after))
        except TelegramForbiddenError as exc:
            return Outcome(Delivery.BLOCKED, error=exc.message)
        except TelegramBadRequest as exc:
            unreachable = any(part in exc.message.lower() for part in _UNREACHABLE)
            return Outcome(Delivery.BLOCKED if unreachable else Delivery.FAILED, error=exc.message)
        except TelegramAPIError as exc:  # server or network trouble: it may have arrived, never re-sent
            return Outcome(Delivery.FAILED, error=f"{type(exc).__name__}: {exc.message}")
        return Outcome(Delivery.SENT, message_id=message.message_id)


# ---- the admin's screens -------------------------------------------------------------------------------


def progress_text(t: Translator, lang: str, b: Broadcast) -> str:
    return t(
        "admin_bc.progress", lang, id=b.id, status=t(f"admin_bc.status.{b.status.value}", lang),
        segment=t(f"admin_bc.segment.{b.segment.replace(':', '_')}", lang), sent=b.sent, failed=b.failed,
        blocked=b.blocked, total=b.total, left=max(0, b.total - b.done_count),
    )  # fmt: skip


def progress_keyboard(t: Translator, lang: str, b: Broadcast) -> InlineKeyboardMarkup:
    ident = str(b.id)
    row: list[InlineKeyboardButton] = []
    if b.status is Status.RUNNING:
        row.append(
            InlineKeyboardButton(
                text=t("admin_bc.pause", lang), callback_data=AdminCb(s="bc", a="pause", id=ident).pack()
            )
        )
    if b.status is Status.PAUSED:
        row.append(
            InlineKeyboardButton(
                text=t("admin_bc.resume", lang), callback_data=AdminCb(s="bc", a="resume", id=ident).pack()
            )
        )
    if b.status in (Status.RUNNING, Status.PAUSED):
        row.append(
            InlineKeyboardButton(
                text=t("admin_bc.cancel", lang), callback_data=AdminCb(s="bc", a="cancel", id=ident).pack()
            )
        )
    rows = [row] if row else []
    rows.append(
        [InlineKeyboardButton(text=t("admin_bc.to_list", lang), callback_data=AdminCb(s="bc", a="menu").pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


class ProgressMessage:
    """Edits the progress message the admin got when the broadcast started, in the admin's language."""

    def __init__(self, bot: Bot, engine: AsyncEngine, t: Translator) -> None:
        self.bot = bot
        self.engine = engine
        self.t = t

    async def language(self, admin_id: int) -> str:
        async with self.engine.connect() as conn:
            user = await get_user(conn, admin_id)
        return user.language if user else "ru"

    async def show(self, broadcast: Broadcast) -> None:
        if broadcast.progress_chat_id is None or broadcast.progress_message_id is None:
            return
        lang = await self.language(broadcast.admin_id)
        try:
            await self.bot.edit_message_text(
                progress_text(self.t, lang, broadcast),
                chat_id=broadcast.progress_chat_id,
                message_id=broadcast.progress_message_id,
                reply_markup=progress_keyboard(self.t, lang, broadcast),
            )
        except TelegramBadRequest as exc:
            if "message is not modified" not in exc.message:
                log.info("broadcast %s: progress message not edited: %s", broadcast.id, exc.message)
        except TelegramRetryAfter:
            pass  # the next tick shows fresher numbers anyway


def broadcast_job(settings: Settings, engine: AsyncEngine, bot: Bot, t: Translator) -> PeriodicJob:
    """The sender as a periodic job: every second, drive any running broadcast no live replica holds."""
    sender = BroadcastSender(
        BroadcastStore(engine),
        TelegramTransport(bot),
        make_send_limiter(settings.redis_url),
        ProgressMessage(bot, engine, t),
        # Telegram lets a bot send ~30 messages/s; an operator who configured more (paid broadcasts) means it.
        global_rate=max(TELEGRAM_GLOBAL_RATE, settings.broadcast_rate_per_s),
    )
    return PeriodicJob("broadcasts.send", 1.0, sender.run_due, first_delay_s=1.0)
