"""The catalog: task-first sections and categories → pages of models → a model card; search by name."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from aistudio.telegram import catalog_views as views
from aistudio.telegram.callbacks import HomeCb, ListCb, MenuCb, ModelCb
from aistudio.telegram.journey_states import CatalogStates
from aistudio.telegram.keyboards import main_menu
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

# The main menu items this router answers (balance, history, help, lang and main belong to others).
CATALOG_ITEMS = (*views.MENU_SECTIONS, views.ALL, views.FREE)


async def render_list(
    services: BotServices, lang: str, sec: str, page: int, query: str = ""
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The text and keyboard of one page of a section; None for a section that no longer exists."""
    models = views.section_models(services, sec, query, lang)
    if models is None:
        return None
    t = services.t
    if not models:
        return views.no_results_text(t, lang, query), views.categories_keyboard(t, lang, services.catalog)
    shown = views.paginate(models, page)
    prices = await views.default_prices(services, shown.models)
    text = views.list_text(t, lang, sec, shown, query)
    return text, views.list_keyboard(t, lang, sec, shown, prices, services.free_model_ids)


async def start_browsing(state: FSMContext, query: str = "") -> None:
    """Catalog mode: a text message now searches. Leaving a wizard for the catalog forgets the wizard."""
    await state.set_state(CatalogStates.browsing)
    await state.set_data({"query": query})


async def on_menu_item(
    query: CallbackQuery, callback_data: MenuCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    await query.answer()
    await start_browsing(state)
    t = services.t
    if callback_data.to == views.ALL:
        await show_screen(query, views.categories_text(t, lang), views.categories_keyboard(t, lang, services.catalog))
        return
    rendered = await render_list(services, lang, callback_data.to, 0)
    if rendered is not None:
        await show_screen(query, *rendered)


async def on_list_page(
    query: CallbackQuery, callback_data: ListCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    search = (await state.get_data()).get("query", "") if callback_data.sec == views.SEARCH else ""
    rendered = await render_list(services, lang, callback_data.sec, callback_data.page, search)
    if rendered is None or (callback_data.sec == views.SEARCH and not search):
        await stale(query, services, lang)
        return
    await query.answer()
    await start_browsing(state, search)
    await show_screen(query, *rendered)


async def on_model_card(
    query: CallbackQuery, callback_data: ModelCb, state: FSMContext, services: BotServices, lang: str
) -> None:
    model = views.model_by_key(services.catalog, callback_data.m)
    if model is None:
        await stale(query, services, lang)
        return
    await query.answer()
    prices = await views.default_prices(services, [model])
    t = services.t
    text = views.card_text(t, lang, model, prices.get(model.id), services.free_model_ids)
    await show_screen(query, text, views.card_keyboard(t, lang, model, callback_data.sec, callback_data.page))


async def on_search(message: Message, state: FSMContext, services: BotServices, lang: str) -> None:
    query = (message.text or "").strip()[:100]
    rendered = await render_list(services, lang, views.SEARCH, 0, query)
    await start_browsing(state, query)
    if rendered is not None:
        text, markup = rendered
        await message.answer(text, reply_markup=markup)


async def on_home(query: CallbackQuery, state: FSMContext, services: BotServices, lang: str) -> None:
    """🏠 Menu from inside a flow: forget the flow, show the main menu."""
    await query.answer()
    await state.clear()
    await show_screen(query, services.t("menu.title", lang), main_menu(services.t, lang))


async def stale(query: CallbackQuery, services: BotServices, lang: str) -> None:
    """A button naming a model or section that no longer exists: say so, offer the menu."""
    await query.answer(services.t("catalog.stale", lang))
    if isinstance(query.message, Message):
        await query.message.answer(services.t("menu.title", lang), reply_markup=main_menu(services.t, lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_menu_item, MenuCb.filter(F.to.in_(CATALOG_ITEMS)))
    router.callback_query.register(on_list_page, ListCb.filter())
    router.callback_query.register(on_model_card, ModelCb.filter())
    router.callback_query.register(on_home, HomeCb.filter())
    router.message.register(on_search, CatalogStates.browsing, F.text, ~F.text.startswith("/"))
    return router
