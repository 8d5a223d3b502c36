"""Promo codes: `/promo CODE`, `/promo` (asks), the 🎁 button on the top-up screen, and admins' /newpromo,
/promos and /delpromo. The rules live in `aistudio.growth.promo`; here the words and buttons.

The admin commands sit on a child router filtered by IsAdmin, so for anyone else they are unknown commands.
"""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from aistudio.billing.queries import wallet_balance
from aistudio.db.repo.users import UserRow
from aistudio.growth.promo import InvalidPromo, PromoCode, PromoCodes, PromoKind, RedeemOutcome
from aistudio.growth.promo_spec import last_valid_day, parse_promo_spec
from aistudio.pricing.price import format_rub
from aistudio.telegram.admin_filter import IsAdmin
from aistudio.telegram.balance_views import BalanceCb
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.keyboards import menu_button
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


class PromoStates(StatesGroup):
    code = State()  # the next text message is a promo code


def promo_codes(services: BotServices) -> PromoCodes:
    return PromoCodes(services.engine, services.ledger)


def ask_keyboard(services: BotServices, lang: str) -> InlineKeyboardMarkup:
    t = services.t
    back = InlineKeyboardButton(text=t("promo.back", lang), callback_data=BalanceCb(action="topup").pack())
    return InlineKeyboardMarkup(inline_keyboard=[[back, menu_button(t, lang)]])


async def outcome_message(
    services: BotServices, user_id: int, lang: str, outcome: RedeemOutcome
) -> tuple[str, InlineKeyboardMarkup]:
    """What the user reads after trying a code (also used by the `/start promo_<CODE>` deep link)."""
    t = services.t
    code = html.escape(outcome.code)
    balance = InlineKeyboardButton(text=t("promo.to_balance", lang), callback_data=MenuCb(to="balance").pack())
    if outcome.refusal is not None:
        another = InlineKeyboardButton(text=t("promo.another", lang), callback_data=MenuCb(to="promo").pack())
        markup = InlineKeyboardMarkup(inline_keyboard=[[another, menu_button(t, lang)]])
        return t(f"promo.refused.{outcome.refusal}", lang, code=code), markup
    markup = InlineKeyboardMarkup(inline_keyboard=[[balance, menu_button(t, lang)]])
    if outcome.kind == PromoKind.PERCENT:
        return t("promo.percent_ok", lang, code=code, percent=outcome.percent), markup
    now = (await wallet_balance(services.engine, user_id)).available
    text = t("promo.fixed_ok", lang, code=code, amount=format_rub(outcome.amount_kopecks), balance=format_rub(now))
    return text, markup


async def redeem_and_answer(message: Message, services: BotServices, user: UserRow, lang: str, code: str) -> None:
    outcome = await promo_codes(services).redeem(code, user.id)
    text, markup = await outcome_message(services, user.id, lang, outcome)
    await message.answer(text, reply_markup=markup)


async def on_promo_command(
    message: Message, command: CommandObject, services: BotServices, user: UserRow, lang: str, state: FSMContext
) -> None:
    if command.args and command.args.strip():
        await state.clear()
        await redeem_and_answer(message, services, user, lang, command.args)
        return
    await state.set_state(PromoStates.code)
    await message.answer(services.t("promo.ask", lang), reply_markup=ask_keyboard(services, lang))


async def on_promo_button(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await query.answer()
    await state.set_state(PromoStates.code)
    await show_screen(query, services.t("promo.ask", lang), ask_keyboard(services, lang))


async def on_code_typed(message: Message, services: BotServices, user: UserRow, lang: str, state: FSMContext) -> None:
    await redeem_and_answer(message, services, user, lang, message.text or "")
    await state.clear()  # only once redeemed: an update redelivered after a crash is still taken as the code


# --- admins ---------------------------------------------------------------------------------------------


def describe(services: BotServices, lang: str, promo: PromoCode) -> str:
    if promo.kind == PromoKind.PERCENT:
        return services.t("promo.admin.what_percent", lang, percent=promo.percent)
    return services.t("promo.admin.what_fixed", lang, amount=format_rub(promo.amount_kopecks))


async def deep_link(services: BotServices, code: str) -> str:
    username = services.settings.bot_username or (await services.bot.me()).username
    return f"https://t.me/{username}?start=promo_{code}"


async def on_new_promo(message: Message, command: CommandObject, services: BotServices, lang: str) -> None:
    t = services.t
    try:
        spec = parse_promo_spec(command.args)
        promo = await promo_codes(services).create(
            spec.code, spec.kind, amount_kopecks=spec.amount_kopecks, percent=spec.percent,
            max_uses=spec.max_uses, expires_at=spec.expires_at,
            created_by=message.from_user.id if message.from_user else None,
        )  # fmt: skip
    except InvalidPromo as error:
        await message.answer(t(f"promo.admin.invalid.{error.reason}", lang) + "\n\n" + t("promo.admin.usage", lang))
        return
    limits = ""
    if promo.max_uses is not None:
        limits += t("promo.admin.limit_uses", lang, uses=promo.max_uses)
    if promo.expires_at is not None:
        limits += t("promo.admin.limit_expires", lang, date=last_valid_day(promo.expires_at).isoformat())
    text = t(
        "promo.admin.created", lang, code=promo.code, what=describe(services, lang, promo), limits=limits,
        link=await deep_link(services, promo.code),
    )  # fmt: skip
    await message.answer(text)


async def on_list_promos(message: Message, services: BotServices, lang: str) -> None:
    t = services.t
    codes = await promo_codes(services).list_codes(limit=30)
    if not codes:
        await message.answer(t("promo.admin.list_empty", lang))
        return
    lines = [t("promo.admin.list_title", lang, count=len(codes))]
    for promo in codes:
        limit = t("promo.admin.list_limit", lang, max=promo.max_uses) if promo.max_uses is not None else ""
        expires = (
            t("promo.admin.list_expires", lang, date=promo.expires_at.strftime("%Y-%m-%d %H:%M"))
            if promo.expires_at is not None
            else ""
        )
        mark = "🟢" if promo.is_active else "⚪️"
        lines.append(t(
            "promo.admin.list_line", lang, mark=mark, code=promo.code, what=describe(services, lang, promo),
            uses=promo.uses, limit=limit, expires=expires,
        ))  # fmt: skip
    await message.answer("\n".join(lines))


async def on_delete_promo(message: Message, command: CommandObject, services: BotServices, lang: str) -> None:
    t = services.t
    if not command.args or not command.args.strip():
        await message.answer(t("promo.admin.del_usage", lang))
        return
    admin = message.from_user.id if message.from_user else None
    before = await promo_codes(services).deactivate(command.args.strip(), admin_id=admin)
    if before is None:
        await message.answer(t("promo.admin.not_found", lang, code=html.escape(command.args.strip()[:32])))
        return
    await message.answer(t("promo.admin.deactivated", lang, code=before.code, uses=before.uses))


def build_admin_router() -> Router:
    router = Router(name=f"{__name__}.admin")
    router.message.filter(IsAdmin())
    router.message.register(on_new_promo, Command("newpromo"))
    router.message.register(on_list_promos, Command("promos"))
    router.message.register(on_delete_promo, Command("delpromo"))
    return router


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.include_router(build_admin_router())
    router.message.register(on_promo_command, Command("promo"))
    router.callback_query.register(on_promo_button, MenuCb.filter(F.to == "promo"))
    # Commands (/menu, /start...) typed instead of a code go on to their own handlers.
    router.message.register(on_code_typed, StateFilter(PromoStates.code), F.text, ~F.text.startswith("/"))
    return router
