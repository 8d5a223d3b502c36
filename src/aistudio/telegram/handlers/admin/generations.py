"""Generations and errors: failures of the last day, find by RQ id or id (timeline), manual refund."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.admin.generations import RefundRefused, find_generation, recent_failures, refund_generation
from aistudio.pricing.price import format_rub
from aistudio.telegram.admin_views import common as views
from aistudio.telegram.admin_views import generations as gen_views
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import TYPED, AdminStates, admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


async def on_failures(query: CallbackQuery, services: BotServices, lang: str) -> None:
    groups = await recent_failures(services.engine)
    await query.answer()
    t = services.t
    await show_screen(query, gen_views.failures_text(t, lang, groups), gen_views.failures_keyboard(t, lang, groups))


async def on_find(query: CallbackQuery, services: BotServices, lang: str, state: FSMContext) -> None:
    await state.set_state(AdminStates.gen_query)
    await query.answer()
    await show_screen(query, services.t("admin_panel.gens.prompt", lang), views.cancel_keyboard(services.t, lang))


async def on_query(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    text = (message.text or "").strip()[:40]
    gen = await find_generation(services.engine, text)
    t = services.t
    if gen is None:
        await message.answer(
            t("admin_panel.gens.not_found", lang, query=html.escape(text)), reply_markup=views.cancel_keyboard(t, lang)
        )
        return
    await state.clear()
    await message.answer(gen_views.details_text(t, lang, gen), reply_markup=gen_views.details_keyboard(t, lang, gen))


async def on_show(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    gen = await find_generation(services.engine, callback_data.id)
    t = services.t
    if gen is None:
        await query.answer(t("admin_panel.gens.not_found", lang, query=html.escape(callback_data.id)), show_alert=True)
        return
    await query.answer()
    await show_screen(query, gen_views.details_text(t, lang, gen), gen_views.details_keyboard(t, lang, gen))


async def on_refund(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    t = services.t
    try:
        outcome = await refund_generation(
            services.engine, services.ledger, admin_id=query.from_user.id, generation_id=int(callback_data.id)
        )
    except RefundRefused:
        await query.answer(t("admin_panel.gens.refund_refused", lang), show_alert=True)
        return
    if outcome.duplicate:
        await query.answer(t("admin_panel.gens.refund_duplicate", lang), show_alert=True)
    else:
        await query.answer(
            t("admin_panel.gens.refunded", lang, amount=format_rub(outcome.amount_kopecks)), show_alert=True
        )
    gen = await find_generation(services.engine, callback_data.id)
    if gen is not None:
        await show_screen(query, gen_views.details_text(t, lang, gen), gen_views.details_keyboard(t, lang, gen))


def build_router() -> Router:
    router = admin_router(__name__)
    on = router.callback_query.register
    on(on_failures, AdminCb.filter((F.s == "gens") & (F.a == "fails")))
    on(on_find, AdminCb.filter((F.s == "gens") & (F.a == "find")))
    on(on_show, AdminCb.filter((F.s == "gens") & (F.a == "show")))
    on(on_refund, AdminCb.filter((F.s == "gens") & (F.a == "refund") & F.id.regexp(r"^\d+$")))
    router.message.register(on_query, StateFilter(AdminStates.gen_query), TYPED)
    return router
