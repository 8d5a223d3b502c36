"""/start, /menu and /lang: registration (with the welcome bonus), the task-first main menu, language."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from aistudio.billing.accounts import Operator
from aistudio.db.repo.users import UserRow, set_language
from aistudio.growth.legacy_bonus import start_bonus_key
from aistudio.growth.referrals import REF_PREFIX, is_newcomer, record_start_payload
from aistudio.i18n import LANGUAGES
from aistudio.telegram.callbacks import LangCb, MenuCb
from aistudio.telegram.handlers import promo, referrals
from aistudio.telegram.keyboards import main_menu
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

PROMO_PREFIX = "promo_"


async def grant_start_bonus(services: BotServices, user: UserRow) -> int:
    """Credit the welcome bonus once per user (the key makes a repeat a no-op); returns kopecks credited."""
    amount = services.start_bonus_kopecks
    if amount <= 0:
        return 0
    await services.ledger.accounts.open_wallet(user.id)  # a crash may have come before the wallet was opened
    result = await services.ledger.credit(start_bonus_key(user.id), user.id, amount, Operator.BONUS, reason="welcome")
    return 0 if result.duplicate else amount


async def on_start(
    message: Message,
    command: CommandObject,
    services: BotServices,
    user: UserRow,
    lang: str,
    user_created: bool,
    state: FSMContext,
) -> None:
    await state.clear()  # /start leaves any wizard or search: later text is not taken as its input
    t = services.t
    payload = (command.args or "").strip()
    # Not only the /start that created the user: one redelivered after a crash (the user row committed, the
    # rest not) must still do it all. Each step is idempotent on its own key, so a second /start adds nothing.
    newcomer = user_created or is_newcomer(user.created_at)
    if newcomer and payload:
        await record_start_payload(services.engine, user.id, payload)
    if newcomer and payload.startswith(REF_PREFIX):  # t.me/<bot>?start=ref_<code>
        await referrals.referrals(services).bind(user.id, payload[len(REF_PREFIX) :])
    bonus = await grant_start_bonus(services, user) if newcomer else 0
    name = message.from_user.first_name if message.from_user else ""
    text = t("start.welcome", lang, name=name)
    if bonus:
        text += "\n\n" + t("start.bonus", lang, amount=f"{bonus / 100:g}")
    await message.answer(text, reply_markup=main_menu(t, lang))
    if payload.startswith(PROMO_PREFIX):  # t.me/<bot>?start=promo_<CODE>
        await promo.redeem_and_answer(message, services, user, lang, payload[len(PROMO_PREFIX) :])


async def on_menu_command(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await message.answer(services.t("menu.title", lang), reply_markup=main_menu(services.t, lang))


async def on_main_menu(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    # A result (photo, video) can carry this button too: show_screen answers with a new message there.
    await show_screen(query, services.t("menu.title", lang), main_menu(services.t, lang))


def language_keyboard(services: BotServices) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=services.t("lang.name", code), callback_data=LangCb(code=code).pack())
        for code in LANGUAGES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def on_lang_command(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("lang.choose", lang), reply_markup=language_keyboard(services))


async def on_lang_menu(query: CallbackQuery, services: BotServices, lang: str) -> None:
    await query.answer()
    await show_screen(query, services.t("lang.choose", lang), language_keyboard(services))


async def on_lang_chosen(query: CallbackQuery, callback_data: LangCb, services: BotServices, user: UserRow) -> None:
    lang = callback_data.code if callback_data.code in LANGUAGES else "ru"
    async with services.engine.begin() as conn:
        await set_language(conn, user.id, lang)
    await query.answer(services.t("lang.changed", lang))
    await show_screen(query, services.t("menu.title", lang), main_menu(services.t, lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    router.message.register(on_menu_command, Command("menu"))
    router.callback_query.register(on_main_menu, MenuCb.filter(F.to == "main"))
    router.message.register(on_lang_command, Command("lang"))
    router.callback_query.register(on_lang_menu, MenuCb.filter(F.to == "lang"))
    router.callback_query.register(on_lang_chosen, LangCb.filter())
    return router
