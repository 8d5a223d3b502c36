"""/balance: what the user can spend, what is reserved, the last ledger entries, and how to top up."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from aistudio.billing.queries import wallet_balance
from aistudio.db.repo.users import UserRow
from aistudio.telegram import balance_views as views
from aistudio.telegram.balance_queries import statement_entries
from aistudio.telegram.balance_views import BalanceCb
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

STATEMENT_LINES = 10


async def render_balance(services: BotServices, user: UserRow, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    balance = await wallet_balance(services.engine, user.id)
    entries = await statement_entries(services.engine, user.id, limit=STATEMENT_LINES)
    text = views.balance_text(services.t, lang, services.catalog, balance, entries)
    return text, views.balance_keyboard(services.t, lang)


async def on_balance_command(message: Message, services: BotServices, user: UserRow, lang: str) -> None:
    text, markup = await render_balance(services, user, lang)
    await message.answer(text, reply_markup=markup)


async def on_balance_button(query: CallbackQuery, services: BotServices, user: UserRow, lang: str) -> None:
    await query.answer()
    await show_screen(query, *await render_balance(services, user, lang))


async def render_topup(services: BotServices, user_id: int, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    balance = await wallet_balance(services.engine, user_id)
    t, settings = services.t, services.settings
    return views.topup_text(t, lang, settings, balance.available), views.topup_keyboard(t, lang, settings)


async def on_topup(query: CallbackQuery, services: BotServices, user: UserRow, lang: str, state: FSMContext) -> None:
    """The ways to add money: Stars packs, a custom number of Stars, card, bank transfer, promo code."""
    await state.clear()  # leaving a custom-amount prompt: later text is not taken as an amount
    await query.answer()
    await show_screen(query, *await render_topup(services, user.id, lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.register(on_balance_command, Command("balance"))
    router.callback_query.register(on_balance_button, MenuCb.filter(F.to == "balance"))
    router.callback_query.register(on_balance_button, BalanceCb.filter(F.action == "show"))
    router.callback_query.register(on_topup, BalanceCb.filter(F.action == "topup"))
    return router
