"""Last in line: anything no feature router took gets an answer, never silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from aistudio.telegram.keyboards import main_menu
from aistudio.telegram.services import BotServices


async def on_stale_button(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """A button from an old message, a changed menu, or another bot version."""
    await query.answer(services.t("common.stale_button", lang), show_alert=False)
    if isinstance(query.message, Message):
        await query.message.answer(services.t("menu.title", lang), reply_markup=main_menu(services.t, lang))


async def on_unknown_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("common.unknown_command", lang), reply_markup=main_menu(services.t, lang))


async def on_text_outside_a_flow(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("common.use_menu", lang), reply_markup=main_menu(services.t, lang))


async def on_unsupported_content(message: Message, services: BotServices, lang: str) -> None:
    """Stickers, locations, contacts...: say what the bot understands."""
    await message.answer(services.t("common.unsupported", lang), reply_markup=main_menu(services.t, lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_stale_button)
    router.message.register(on_unknown_command, lambda m: m.text is not None and m.text.startswith("/"))
    router.message.register(on_text_outside_a_flow, lambda m: m.text is not None)
    router.message.register(on_unsupported_content)
    return router
