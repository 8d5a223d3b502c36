"""/help: the FAQ (free tier, pricing, topping up, errors, support), one screen per question."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from aistudio.telegram import help_views as views
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.help_views import HelpCb
from aistudio.telegram.services import BotServices


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Replace the pressed message with the next screen; a media message (a result) gets a new one instead."""
    message = query.message
    if not isinstance(message, Message):
        return
    if message.text is None:
        await message.answer(text, reply_markup=markup)
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" not in str(exc):  # a double press shows the same screen again
            raise


async def on_help_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(views.main_text(services.t, lang), reply_markup=views.main_keyboard(services.t, lang))


async def on_help_main(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    await show(query, views.main_text(services.t, lang), views.main_keyboard(services.t, lang))


async def on_topic(query: CallbackQuery, callback_data: HelpCb, services: BotServices, lang: str) -> None:
    await query.answer()
    t, topic = services.t, callback_data.topic
    text = views.topic_text(
        t, lang, topic, settings=services.settings, catalog=services.catalog, free_ids=services.free_model_ids
    )
    await show(query, text, views.topic_keyboard(t, lang, topic))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.register(on_help_command, Command("help"))
    router.callback_query.register(on_help_main, MenuCb.filter(F.to == "help"))
    router.callback_query.register(on_help_main, HelpCb.filter(F.topic == "main"))
    router.callback_query.register(on_topic, HelpCb.filter(F.topic.func(views.is_topic)))
    return router
