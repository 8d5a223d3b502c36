"""/admin (the menu), Cancel for any admin prompt, and /version."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.ops.version import build_info
from aistudio.telegram.admin_views import common as views
from aistudio.telegram.admin_views.misc import version_text
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


async def on_admin_command(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await message.answer(views.menu_text(services.t, lang), reply_markup=views.menu_keyboard(services.t, lang))


async def on_menu(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await show_screen(query, views.menu_text(services.t, lang), views.menu_keyboard(services.t, lang))


async def on_cancel(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer(services.t("admin_panel.menu.cancelled", lang))
    await show_screen(query, views.menu_text(services.t, lang), views.menu_keyboard(services.t, lang))


def render_version(services: BotServices, lang: str) -> str:
    mode = services.run_state.mode if services.run_state is not None else "embedded"
    database = "postgresql" if services.settings.is_postgres else "sqlite"
    return version_text(services.t, lang, build_info(), services.started_at, database, mode)


async def on_version_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(render_version(services, lang), reply_markup=views.keyboard(views.back_row(services.t, lang)))


async def on_version_button(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    await show_screen(query, render_version(services, lang), views.keyboard(views.back_row(services.t, lang)))


def build_router() -> Router:
    router = admin_router(__name__)
    router.message.register(on_admin_command, Command("admin"))
    router.message.register(on_version_command, Command("version"))
    router.callback_query.register(on_cancel, AdminCb.filter((F.s == views.MENU) & (F.a == "cancel")))
    router.callback_query.register(on_version_button, AdminCb.filter((F.s == views.MENU) & (F.a == "version")))
    router.callback_query.register(on_menu, AdminCb.filter(F.s == views.MENU))
    return router
