"""Users: find, the card, balance corrections, ban/unban, a message from support."""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.admin import audit
from aistudio.admin.users import (
    AdjustRefused,
    adjust_balance,
    find_users,
    parse_adjustment,
    set_banned,
    user_card,
)
from aistudio.pricing.price import format_rub
from aistudio.telegram.admin_views import common as views
from aistudio.telegram.admin_views import users as user_views
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import TYPED, AdminStates, admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


async def _send_card(message: Message, services: BotServices, lang: str, user_id: int) -> None:
    card = await user_card(services.engine, user_id)
    if card is None:
        await message.answer(
            services.t("admin_panel.users.unknown", lang), reply_markup=views.keyboard(views.back_row(services.t, lang))
        )
        return
    text = user_views.card_text(services.t, lang, card)
    await message.answer(text, reply_markup=user_views.card_keyboard(services.t, lang, card))


async def on_search(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.set_state(AdminStates.user_query)
    await query.answer()
    await show_screen(query, services.t("admin_panel.users.prompt", lang), views.cancel_keyboard(services.t, lang))


async def on_query(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    text = (message.text or "").strip()[:100]
    found = await find_users(services.engine, text)
    t = services.t
    if not found:
        await message.answer(
            t("admin_panel.users.not_found", lang, query=html.escape(text)), reply_markup=views.cancel_keyboard(t, lang)
        )
        return
    await state.clear()
    if len(found) == 1:
        await _send_card(message, services, lang, found[0].id)
        return
    await message.answer(
        t("admin_panel.users.found", lang, count=len(found)), reply_markup=user_views.results_keyboard(t, lang, found)
    )


async def on_card(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    card = await user_card(services.engine, int(callback_data.id))
    if card is None:
        await query.answer(services.t("admin_panel.users.unknown", lang), show_alert=True)
        return
    await query.answer()
    await show_screen(
        query, user_views.card_text(services.t, lang, card), user_views.card_keyboard(services.t, lang, card)
    )


async def on_ban(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    banned = callback_data.a == "ban"
    user_id = int(callback_data.id)
    changed = await set_banned(services.engine, admin_id=query.from_user.id, user_id=user_id, banned=banned)
    key = ("banned" if banned else "unbanned") if changed else "ban_unchanged"
    await query.answer(services.t(f"admin_panel.users.{key}", lang), show_alert=True)
    card = await user_card(services.engine, user_id)
    if card is not None:
        await show_screen(
            query, user_views.card_text(services.t, lang, card), user_views.card_keyboard(services.t, lang, card)
        )


async def on_adjust(
    query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str, state: FSMContext
) -> None:
    card = await user_card(services.engine, int(callback_data.id))
    if card is None:
        await query.answer(services.t("admin_panel.users.unknown", lang), show_alert=True)
        return
    await state.set_state(AdminStates.adjust)
    await state.update_data(target=card.user.id)
    await query.answer()
    text = services.t(
        "admin_panel.users.adjust_prompt", lang, name=html.escape(user_views.display_name(card.user)),
        available=format_rub(card.balance.available),
    )  # fmt: skip
    await show_screen(query, text, views.cancel_keyboard(services.t, lang))


async def on_amount(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    t = services.t
    user_id = int((await state.get_data())["target"])
    admin_id = message.from_user.id if message.from_user else 0
    try:
        adjustment = parse_adjustment(message.text or "")
        balance = await adjust_balance(
            services.engine, services.ledger, key=f"admin:adjust:{admin_id}:{message.chat.id}:{message.message_id}",
            admin_id=admin_id, user_id=user_id, adjustment=adjustment,
        )  # fmt: skip
    except AdjustRefused as refused:
        text = t(f"admin_panel.users.adjust_refused.{refused.code}", lang, available=format_rub(refused.available))
        await message.answer(text, reply_markup=views.cancel_keyboard(t, lang))
        return
    await state.clear()
    await message.answer(
        t(
            "admin_panel.users.adjusted", lang, delta=views.signed_rub(adjustment.delta_kopecks),
            available=format_rub(balance.available),
        )
    )  # fmt: skip
    await _send_card(message, services, lang, user_id)


async def on_message_button(
    query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str, state: FSMContext
) -> None:
    card = await user_card(services.engine, int(callback_data.id))
    if card is None:
        await query.answer(services.t("admin_panel.users.unknown", lang), show_alert=True)
        return
    await state.set_state(AdminStates.message)
    await state.update_data(target=card.user.id, target_lang=card.language)
    await query.answer()
    name = html.escape(user_views.display_name(card.user))
    await show_screen(
        query, services.t("admin_panel.users.message_prompt", lang, name=name), views.cancel_keyboard(services.t, lang)
    )


async def on_message_text(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    t = services.t
    data = await state.get_data()
    user_id, user_lang = int(data["target"]), str(data.get("target_lang") or "ru")
    text = (message.text or "")[:3500]
    await state.clear()
    delivered, error = False, None
    try:
        await services.bot.send_message(
            user_id, t("admin_panel.users.message_to_user", user_lang, text=html.escape(text))
        )
        delivered = True
        answer = t("admin_panel.users.message_sent", lang)
    except (TelegramForbiddenError, TelegramBadRequest) as exc:
        error = str(exc)
        answer = t("admin_panel.users.message_blocked", lang)
    except TelegramAPIError as exc:
        error = str(exc)
        answer = t("admin_panel.users.message_failed", lang, error=html.escape(error[:200]))
    await audit.record(
        services.engine, admin_id=message.from_user.id if message.from_user else 0, action="user.message",
        target=f"user:{user_id}", after={"text": text[:1000], "delivered": delivered, "error": error},
    )  # fmt: skip
    await message.answer(answer)
    await _send_card(message, services, lang, user_id)


def build_router() -> Router:
    router = admin_router(__name__)
    on = router.callback_query.register
    on(on_search, AdminCb.filter((F.s == "users") & (F.a == "search")))
    on(on_card, AdminCb.filter((F.s == "users") & (F.a == "card") & F.id.regexp(r"^\d+$")))
    on(on_ban, AdminCb.filter((F.s == "users") & F.a.in_({"ban", "unban"}) & F.id.regexp(r"^\d+$")))
    on(on_adjust, AdminCb.filter((F.s == "users") & (F.a == "adjust") & F.id.regexp(r"^\d+$")))
    on(on_message_button, AdminCb.filter((F.s == "users") & (F.a == "msg") & F.id.regexp(r"^\d+$")))
    router.message.register(on_query, StateFilter(AdminStates.user_query), TYPED)
    router.message.register(on_amount, StateFilter(AdminStates.adjust), TYPED)
    router.message.register(on_message_text, StateFilter(AdminStates.message), TYPED)
    return router
