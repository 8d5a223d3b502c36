"""Last in line: anything no feature router took gets an answer, never silence."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from aistudio.telegram.keyboards import main_menu
from aistudio.telegram.services import BotServices

router = Router(name=__name__)


@router.callback_query()
async def on_stale_button(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """A button from an old message, a changed menu, or another bot version."""
    await query.answer(services.t("common.stale_button", lang), show_alert=False)
    if isinstance(query.message, Message):
        await query.message.answer(services.t("menu.title", lang), reply_markup=main_menu(services.t, lang))


@router.message(lambda m: m.text is not None and m.text.startswith("/"))
async def on_unknown_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("common.unknown_command", lang), reply_markup=main_menu(services.t, lang))


@router.message(lambda m: m.text is not None)
async def on_text_outside_a_flow(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("common.use_menu", lang), reply_markup=main_menu(services.t, lang))


@router.message()
async def on_unsupported_content(message: Message, services: BotServices, lang: str) -> None:
    """Stickers, locations, contacts...: say what the bot understands."""
    await message.answer(services.t("common.unsupported", lang), reply_markup=main_menu(services.t, lang))
