"""Results and failures to the user's chat: the Telegram implementation of `DeliveryPort`."""

from __future__ import annotations

import html
import logging

from aiogram import Bot
from aiogram.types import FSInputFile, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.catalog.loader import Catalog
from aistudio.db.repo.users import get_user
from aistudio.generation.delivery import Failure, ResultFile
from aistudio.generation.repo import Generation
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram import result_keyboards
from aistudio.telegram.progress import ProgressMessages

log = logging.getLogger(__name__)

PHOTO_LIMIT = 10 * 1024 * 1024  # Telegram's limits for uploads by a bot
FILE_LIMIT = 50 * 1024 * 1024


class TelegramDelivery:
    def __init__(self, bot: Bot, engine: AsyncEngine, catalog: Catalog, t: Translator) -> None:
        self.bot = bot
        self.engine = engine
        self.catalog = catalog
        self.t = t
        self.progress_messages = ProgressMessages(bot, engine, catalog, t)

    async def _lang(self, user_id: int) -> str:
        async with self.engine.connect() as conn:
            user = await get_user(conn, user_id)
        return user.language if user else "ru"

    def _caption(self, gen: Generation, lang: str) -> str:
        model = self.catalog.get(gen.model_id)
        seconds = int(((gen.completed_at or gen.created_at) - gen.created_at).total_seconds())
        price = (
            self.t("result.free", lang)
            if gen.is_free
            else self.t("result.paid", lang, rub=format_rub(gen.price_kopecks))
        )
        name = _escape(model.name.get(lang))
        return self.t("result.caption", lang, model=name, price=price, seconds=max(seconds, 1))

    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        lang = await self._lang(gen.user_id)
        chat = gen.chat_id or gen.user_id
        caption = self._caption(gen, lang)
        keyboard = result_keyboards.after_result(self.t, lang, gen, self.catalog)
        sent: list[dict[str, str]] = []
        for index, file in enumerate(files):
            last = index == len(files) - 1
            markup = keyboard if last else None
            text = caption if index == 0 else None
            sent.extend(await self._send_one(chat, file, text, markup, lang))
        await self.progress_messages.finish(gen)
        return sent

    async def _send_one(
        self, chat: int, file: ResultFile, caption: str | None, markup: InlineKeyboardMarkup | None, lang: str
    ) -> list[dict[str, str]]:
        upload = FSInputFile(file.path)
        kind = file.mime_type.split("/", 1)[0]
        if file.size > FILE_LIMIT:
            link = self.t("result.too_big", lang, url=file.source_url)
            message = await self.bot.send_message(
                chat, f"{caption}\n\n{link}" if caption else link, reply_markup=markup
            )
            return [{"kind": "link", "url": file.source_url, "message_id": str(message.message_id)}]
        if kind == "image" and file.size <= PHOTO_LIMIT:
            photo = await self.bot.send_photo(chat, upload, caption=caption)
            original = await self.bot.send_document(
                chat, FSInputFile(file.path), caption=self.t("result.original", lang), reply_markup=markup
            )
            return [_ids(photo, "photo"), _ids(original, "document")]
        if kind == "video":
            return [_ids(await self.bot.send_video(chat, upload, caption=caption, reply_markup=markup), "video")]
        if kind == "audio":
            return [_ids(await self.bot.send_audio(chat, upload, caption=caption, reply_markup=markup), "audio")]
        return [_ids(await self.bot.send_document(chat, upload, caption=caption, reply_markup=markup), "document")]

    async def fail(self, gen: Generation, failure: Failure) -> None:
        lang = await self._lang(gen.user_id)
        await self.progress_messages.finish(gen)
        key = f"generation.error.{failure.error_class}"
        if not self.t.has(key):
            key = "generation.error.upstream"
        lines = [self.t(key, lang)]
        if failure.error_class == "invalid_input" and failure.kie_message:
            lines.append(self.t("generation.error.details", lang, details=_escape(failure.kie_message[:300])))
        if failure.refunded_kopecks:
            lines.append(self.t("generation.refunded", lang, rub=format_rub(failure.refunded_kopecks)))
        elif gen.is_free:
            lines.append(self.t("generation.free_returned", lang))
        lines.append(self.t("generation.request_id", lang, request_id=gen.request_id))
        await self.bot.send_message(
            gen.chat_id or gen.user_id, "\n".join(lines), reply_markup=result_keyboards.after_failure(self.t, lang, gen)
        )

    async def progress(self, gen: Generation, state: str) -> None:
        """Keep the user company while waiting: edit the progress message the Launch sent, show a chat action."""
        try:
            await self.progress_messages.state_changed(gen, state, await self._lang(gen.user_id))
        except Exception as exc:  # progress is a courtesy, never a reason to fail the generation
            log.warning("progress of %s failed: %r", gen.request_id, exc)


def _ids(message: Message, kind: str) -> dict[str, str]:
    file_id = ""
    if message.photo:
        file_id = message.photo[-1].file_id
    elif message.document:
        file_id = message.document.file_id
    elif message.video:
        file_id = message.video.file_id
    elif message.audio:
        file_id = message.audio.file_id
    return {"kind": kind, "file_id": file_id, "message_id": str(message.message_id)}


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
