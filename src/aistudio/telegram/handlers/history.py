"""/history: the user's generations, newest first; open one to see it, re-send its files or repeat it."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from aistudio.db.repo.users import UserRow
from aistudio.generation.repo import Generation
from aistudio.generation.states import TERMINAL
from aistudio.telegram import history_views as views
from aistudio.telegram import result_keyboards
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.history_queries import history_page
from aistudio.telegram.history_views import HistoryCb
from aistudio.telegram.keyboards import back_to_menu, main_menu
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


async def render_page(services: BotServices, user: UserRow, lang: str, page: int) -> tuple[str, InlineKeyboardMarkup]:
    t = services.t
    found = await history_page(services.engine, user.id, page, per_page=views.PER_PAGE)
    if not found.items:
        return t("history.empty", lang), main_menu(t, lang)
    return views.list_text(t, lang, services.catalog, found), views.list_keyboard(t, lang, services.catalog, found)


async def on_history_command(message: Message, services: BotServices, user: UserRow, lang: str) -> None:
    text, markup = await render_page(services, user, lang, 0)
    await message.answer(text, reply_markup=markup)


async def on_history_menu(query: CallbackQuery, services: BotServices, user: UserRow, lang: str) -> None:
    await query.answer()
    await show_screen(query, *await render_page(services, user, lang, 0))


async def on_page(
    query: CallbackQuery, callback_data: HistoryCb, services: BotServices, user: UserRow, lang: str
) -> None:
    await query.answer()
    await show_screen(query, *await render_page(services, user, lang, callback_data.page))


async def own_generation(
    query: CallbackQuery, callback_data: HistoryCb, services: BotServices, user: UserRow, lang: str
) -> Generation | None:
    """The generation the button names, if it is the pressing user's; otherwise refuse the press."""
    gen = await services.generations.get(callback_data.gen)
    if gen is None or gen.user_id != user.id:
        await query.answer(services.t("common.not_yours", lang), show_alert=True)
        return None
    return gen


def repeat_button(services: BotServices, lang: str, gen: Generation) -> InlineKeyboardButton | None:
    """🔁 Repeat (the results router's: same inputs, fresh price check) for a finished generation of a model
    that is still offered."""
    if gen.state not in TERMINAL or gen.model_id not in services.catalog:
        return None
    model = services.catalog.get(gen.model_id)
    if not model.enabled or model.hidden:
        return None
    return result_keyboards.repeat_button(services.t, lang, gen)


async def on_open(
    query: CallbackQuery, callback_data: HistoryCb, services: BotServices, user: UserRow, lang: str
) -> None:
    gen = await own_generation(query, callback_data, services, user, lang)
    if gen is None:
        return
    await query.answer()
    t = services.t
    text = views.details_text(t, lang, services.catalog, gen)
    markup = views.details_keyboard(t, lang, gen, callback_data.page, repeat_button(services, lang, gen))
    await show_screen(query, text, markup)


async def send_stored_file(
    bot: Bot, chat_id: int, entry: dict[str, Any], caption: str | None, markup: InlineKeyboardMarkup | None
) -> None:
    """Send one stored result again by its Telegram file id (no download, no upload)."""
    kind, file_id = entry.get("kind"), entry.get("file_id")
    if kind == "link" and entry.get("url"):
        text = f"{caption}\n{entry['url']}" if caption else entry["url"]
        await bot.send_message(chat_id, text, reply_markup=markup)
    elif kind == "photo" and file_id:
        await bot.send_photo(chat_id, file_id, caption=caption, reply_markup=markup)
    elif kind == "video" and file_id:
        await bot.send_video(chat_id, file_id, caption=caption, reply_markup=markup)
    elif kind == "audio" and file_id:
        await bot.send_audio(chat_id, file_id, caption=caption, reply_markup=markup)
    elif file_id:
        await bot.send_document(chat_id, file_id, caption=caption, reply_markup=markup)


async def on_resend(
    query: CallbackQuery, callback_data: HistoryCb, services: BotServices, user: UserRow, lang: str, bot: Bot
) -> None:
    gen = await own_generation(query, callback_data, services, user, lang)
    if gen is None:
        return
    t = services.t
    if not views.can_resend(gen):
        await query.answer(t("history.nothing_to_resend", lang), show_alert=True)
        return
    files = [f for f in gen.result_files if f.get("file_id") or f.get("url")]
    await query.answer(t("history.resending", lang))
    chat_id = query.message.chat.id if query.message else user.id
    caption = t("history.resent_caption", lang, model=views.model_name(services.catalog, gen.model_id, lang))
    sent = 0
    for index, entry in enumerate(files):
        last = index == len(files) - 1
        try:
            await send_stored_file(
                bot, chat_id, entry, caption if index == 0 else None, back_to_menu(t, lang) if last else None
            )
            sent += 1
        except TelegramBadRequest as exc:  # the file id no longer works (another bot token, a purged file)
            log.warning("re-send of %s file %s failed: %s", gen.request_id, entry.get("kind"), exc)
    if not sent:
        await bot.send_message(chat_id, t("history.resend_failed", lang), reply_markup=back_to_menu(t, lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.register(on_history_command, Command("history"))
    router.callback_query.register(on_history_menu, MenuCb.filter(F.to == "history"))
    router.callback_query.register(on_page, HistoryCb.filter(F.action == "page"))
    router.callback_query.register(on_open, HistoryCb.filter(F.action == "open"))
    router.callback_query.register(on_resend, HistoryCb.filter(F.action == "resend"))
    return router
