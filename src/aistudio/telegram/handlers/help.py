"""/help: the FAQ (free tier, pricing, topping up, errors, support), one screen per question."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from aistudio.telegram import help_views as views
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.help_views import HelpCb
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


async def on_help_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(views.main_text(services.t, lang), reply_markup=views.main_keyboard(services.t, lang))


async def on_help_main(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    await show_screen(query, views.main_text(services.t, lang), views.main_keyboard(services.t, lang))


async def on_topic(query: CallbackQuery, callback_data: HelpCb, services: BotServices, lang: str) -> None:
    await query.answer()
    t, topic = services.t, callback_data.topic
    text = views.topic_text(
        t, lang, topic, settings=services.settings, catalog=services.catalog, free_ids=services.free_model_ids
    )
    await show_screen(query, text, views.topic_keyboard(t, lang, topic))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.register(on_help_command, Command("help"))
    router.callback_query.register(on_help_main, MenuCb.filter(F.to == "help"))
    router.callback_query.register(on_help_main, HelpCb.filter(F.topic == "main"))
    router.callback_query.register(on_topic, HelpCb.filter(F.topic.func(views.is_topic)))
    return router
