"""Models: the list with today's figures, switch a model off/on, set or reset its markup (live, audited)."""

from __future__ import annotations

import html

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from aistudio.admin.models import ModelRow, model_rows
from aistudio.admin.overrides import InvalidMarkup, LiveCatalog, parse_markup
from aistudio.catalog.models import ModelSpec
from aistudio.pricing.price import format_rub
from aistudio.telegram.admin_views import common as views
from aistudio.telegram.admin_views import models as model_views
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.catalog_views import default_prices, model_key
from aistudio.telegram.handlers.admin.common import TYPED, AdminStates, admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


def live_catalog(services: BotServices) -> LiveCatalog:
    catalog = services.catalog
    if not isinstance(catalog, LiveCatalog):
        raise RuntimeError("the admin's model tools need the LiveCatalog the composition root builds")
    return catalog


def spec_by_key(services: BotServices, key: str) -> ModelSpec | None:
    for spec in live_catalog(services).base:
        if not spec.hidden and model_key(spec.id) == key:
            return spec
    return None


async def _rows(services: BotServices) -> list[ModelRow]:
    return await model_rows(services.engine, live_catalog(services), services.settings.markup)


async def render_card(services: BotServices, lang: str, spec: ModelSpec, page: int) -> tuple[str, InlineKeyboardMarkup]:
    row = next(r for r in await _rows(services) if r.model_id == spec.id)
    prices = await default_prices(services, [spec])
    price = format_rub(prices[spec.id]) if spec.id in prices else None
    t = services.t
    return model_views.card_text(t, lang, spec, row, price), model_views.card_keyboard(t, lang, row, page)


async def on_list(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    rows = await _rows(services)
    page = min(max(0, callback_data.p), model_views.page_count(rows) - 1)
    names = {m.id: m.name.get(lang) for m in live_catalog(services).base}
    await query.answer()
    t = services.t
    await show_screen(
        query,
        model_views.list_text(t, lang, rows, page, services.settings.markup),
        model_views.list_keyboard(t, lang, rows, page, names),
    )


async def on_card(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    spec = spec_by_key(services, callback_data.id)
    if spec is None:
        await query.answer(services.t("admin_panel.models.unknown", lang), show_alert=True)
        return
    await query.answer()
    await show_screen(query, *await render_card(services, lang, spec, callback_data.p))


async def on_toggle(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    spec = spec_by_key(services, callback_data.id)
    t = services.t
    if spec is None or not spec.enabled:  # a model the catalog disables can't be switched on from here
        await query.answer(t("admin_panel.models.unknown", lang), show_alert=True)
        return
    enable = callback_data.a == "on"
    changed = await live_catalog(services).overrides.set_enabled(spec.id, enable, admin_id=query.from_user.id)
    key = ("enabled" if enable else "disabled") if changed else "unchanged"
    await query.answer(t(f"admin_panel.models.{key}", lang), show_alert=True)
    await show_screen(query, *await render_card(services, lang, spec, callback_data.p))


async def on_reset_markup(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    spec = spec_by_key(services, callback_data.id)
    if spec is None:
        await query.answer(services.t("admin_panel.models.unknown", lang), show_alert=True)
        return
    await live_catalog(services).overrides.set_markup(spec.id, None, admin_id=query.from_user.id)
    markup = model_views.markup_text(services.settings.markup)
    await query.answer(services.t("admin_panel.models.markup_set", lang, markup=markup))
    await show_screen(query, *await render_card(services, lang, spec, callback_data.p))


async def on_markup(
    query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str, state: FSMContext
) -> None:
    spec = spec_by_key(services, callback_data.id)
    t = services.t
    if spec is None:
        await query.answer(t("admin_panel.models.unknown", lang), show_alert=True)
        return
    await state.set_state(AdminStates.markup)
    await state.update_data(model_id=spec.id, page=callback_data.p)
    await query.answer()
    name = html.escape(spec.name.get(lang))
    await show_screen(query, t("admin_panel.models.markup_prompt", lang, name=name), views.cancel_keyboard(t, lang))


async def on_markup_text(message: Message, services: BotServices, lang: str, state: FSMContext) -> None:
    t = services.t
    try:
        markup = parse_markup(message.text or "")
    except InvalidMarkup:
        await message.answer(t("admin_panel.models.markup_invalid", lang), reply_markup=views.cancel_keyboard(t, lang))
        return
    data = await state.get_data()
    await state.clear()
    catalog = live_catalog(services)
    spec = catalog.base.get(str(data["model_id"]))
    admin_id = message.from_user.id if message.from_user else 0
    await catalog.overrides.set_markup(spec.id, markup, admin_id=admin_id)
    await message.answer(t("admin_panel.models.markup_set", lang, markup=model_views.markup_text(markup)))
    text, keyboard = await render_card(services, lang, spec, int(data.get("page") or 0))
    await message.answer(text, reply_markup=keyboard)


def build_router() -> Router:
    router = admin_router(__name__)
    on = router.callback_query.register
    on(on_list, AdminCb.filter((F.s == "models") & (F.a == "list")))
    on(on_card, AdminCb.filter((F.s == "models") & (F.a == "card")))
    on(on_toggle, AdminCb.filter((F.s == "models") & F.a.in_({"on", "off"})))
    on(on_markup, AdminCb.filter((F.s == "models") & (F.a == "markup")))
    on(on_reset_markup, AdminCb.filter((F.s == "models") & (F.a == "unmark")))
    router.message.register(on_markup_text, StateFilter(AdminStates.markup), TYPED)
    return router
