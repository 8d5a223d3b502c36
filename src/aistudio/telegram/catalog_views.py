"""What the catalog screens show: sections, pages of models with badges and prices, model cards, search."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from functools import lru_cache

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import Category, ModelSpec
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub, quote
from aistudio.telegram.callbacks import HomeCb, ListCb, MenuCb, ModelCb, StartCb
from aistudio.telegram.services import BotServices

PAGE_SIZE = 8

# The task-first menu items and the categories each one gathers.
MENU_SECTIONS: dict[str, tuple[Category, ...]] = {
    "video": (Category.TEXT_TO_VIDEO, Category.IMAGE_TO_VIDEO),
    "images": (Category.TEXT_TO_IMAGE,),
    "edit": (Category.IMAGE_EDIT,),
    "upscale": (Category.TOOLS,),
    "audio": (Category.MUSIC, Category.SPEECH, Category.SOUND),
    "animate": (Category.IMAGE_TO_VIDEO, Category.AVATAR),
}
FREE = "free"
SEARCH = "q"
ALL = "catalog"


def model_key(model_id: str) -> str:
    """A short stable name for a model in callback data (ids can be long and contain any characters)."""
    return hashlib.blake2s(model_id.encode(), digest_size=4).hexdigest()


@lru_cache(maxsize=8)
def _keys(catalog: Catalog) -> dict[str, str]:
    return {model_key(m.id): m.id for m in catalog}


def model_by_key(catalog: Catalog, key: str) -> ModelSpec | None:
    """The visible model a callback names; None when it is gone, disabled or hidden (a stale button)."""
    model_id = _keys(catalog).get(key)
    if model_id is None:
        return None
    model = catalog.get(model_id)
    return model if model.enabled and not model.hidden else None


def section_models(services: BotServices, sec: str, query: str = "", lang: str = "ru") -> list[ModelSpec] | None:
    """The models of a section, in catalog order; None for an unknown section (a stale button)."""
    catalog = services.catalog
    if sec in MENU_SECTIONS:
        wanted = MENU_SECTIONS[sec]
        return [m for m in catalog.visible() if m.category in wanted]
    if sec == FREE:
        return [m for m in catalog.visible() if m.id in services.free_model_ids]
    if sec == SEARCH:
        return catalog.search(query, lang)
    try:
        return catalog.by_category(Category(sec))
    except ValueError:
        return None


async def default_prices(services: BotServices, models: list[ModelSpec]) -> dict[str, int]:
    """Kopecks for each model's default inputs: one FX read per screen, then pure arithmetic."""
    fx = await services.fx.current()
    pipeline = services.generations.pipeline
    prices: dict[str, int] = {}
    for model in models:
        try:
            q = quote(
                model,
                model.defaults(),
                usd_per_credit=pipeline.settings.usd_per_credit,
                fx_rub_per_usd=fx.rub_per_usd,
                markup=pipeline.markup_for(model.id) or pipeline.settings.markup,
            )
        except (ValueError, ArithmeticError):
            continue  # a model without a default price is still listed, without "from X ₽"
        prices[model.id] = q.kopecks
    return prices


def badges(model: ModelSpec, free_ids: frozenset[str]) -> str:
    marks = []
    if model.id in free_ids:
        marks.append("🆓")
    if "popular" in model.tags:
        marks.append("🔥")
    if "new" in model.tags:
        marks.append("🆕")
    return "".join(marks)


def price_label(t: Translator, lang: str, model: ModelSpec, prices: dict[str, int], free_ids: frozenset[str]) -> str:
    if model.id in free_ids:
        return t("catalog.price_free", lang)
    if model.id not in prices:
        return ""
    return t("catalog.price_from", lang, rub=format_rub(prices[model.id]))


@dataclass(frozen=True)
class Page:
    models: list[ModelSpec]
    number: int  # 0-based, clamped into range
    count: int


def paginate(models: list[ModelSpec], page: int) -> Page:
    count = max(1, -(-len(models) // PAGE_SIZE))
    number = min(max(page, 0), count - 1)
    return Page(models[number * PAGE_SIZE : (number + 1) * PAGE_SIZE], number, count)


def section_title(t: Translator, lang: str, sec: str) -> str:
    if sec in MENU_SECTIONS or sec in (FREE, SEARCH):
        return t(f"catalog.sections.{sec}", lang)
    return t(f"catalog.categories.{sec}", lang)


def list_text(t: Translator, lang: str, sec: str, page: Page, query: str = "") -> str:
    lines = [f"<b>{section_title(t, lang, sec)}</b>"]
    if sec == SEARCH:
        lines.append(t("catalog.search_results", lang, query=html.escape(query), count=len(page.models)))
    if page.count > 1:
        lines.append(t("catalog.page", lang, page=page.number + 1, pages=page.count))
    lines.append(t("catalog.pick", lang))
    lines.append(t("catalog.search_hint", lang))
    return "\n".join(lines)


def list_keyboard(
    t: Translator, lang: str, sec: str, page: Page, prices: dict[str, int], free_ids: frozenset[str]
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for model in page.models:
        label = " ".join(p for p in (badges(model, free_ids), model.name.get(lang)) if p)
        price = price_label(t, lang, model, prices, free_ids)
        text = f"{label} · {price}" if price else label
        rows.append(
            [
                InlineKeyboardButton(
                    text=text, callback_data=ModelCb(m=model_key(model.id), sec=sec, page=page.number).pack()
                )
            ]
        )
    nav = []
    if page.number > 0:
        nav.append(
            InlineKeyboardButton(
                text=t("catalog.prev", lang), callback_data=ListCb(sec=sec, page=page.number - 1).pack()
            )
        )
    if page.number < page.count - 1:
        nav.append(
            InlineKeyboardButton(
                text=t("catalog.next", lang), callback_data=ListCb(sec=sec, page=page.number + 1).pack()
            )
        )
    if nav:
        rows.append(nav)
    rows.append(back_row(t, lang, sec))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_row(t: Translator, lang: str, sec: str) -> list[InlineKeyboardButton]:
    """Back from a list: category lists go back to all categories, the rest to the main menu."""
    row = []
    if sec not in MENU_SECTIONS and sec not in (FREE, SEARCH):
        row.append(InlineKeyboardButton(text=t("catalog.back", lang), callback_data=MenuCb(to=ALL).pack()))
    row.append(InlineKeyboardButton(text=t("catalog.menu", lang), callback_data=HomeCb().pack()))
    return row


def categories_text(t: Translator, lang: str) -> str:
    return "\n".join(
        (
            f"<b>{t('catalog.sections.catalog', lang)}</b>",
            t("catalog.pick_category", lang),
            t("catalog.search_hint", lang),
        )
    )


def categories_keyboard(t: Translator, lang: str, catalog: Catalog) -> InlineKeyboardMarkup:
    buttons = []
    for category in Category:
        count = len(catalog.by_category(category))
        if count:
            text = t("catalog.category_button", lang, name=t(f"catalog.categories.{category.value}", lang), count=count)
            buttons.append(InlineKeyboardButton(text=text, callback_data=ListCb(sec=category.value).pack()))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(text=t("catalog.menu", lang), callback_data=HomeCb().pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def no_results_text(t: Translator, lang: str, query: str) -> str:
    return t("catalog.no_results", lang, query=html.escape(query))


# --- the model card ----------------------------------------------------------------------------------


def needs_text(t: Translator, lang: str, model: ModelSpec) -> str:
    """ "a photo and a text": what the wizard will ask for (files first), from its fields' kinds."""
    files: list[str] = []
    texts: list[str] = []
    for f in model.inputs:
        if f.ask != "wizard":
            continue
        if f.media:
            files.append(t(f"catalog.needs.{f.media}{'_many' if f.is_multi else ''}", lang))
        elif f.type == "string" and not f.enum:
            texts.append(t("catalog.needs.text", lang))
        # options are chosen with buttons on the way: nothing to prepare
    parts = list(dict.fromkeys(files + texts))
    if not parts:
        return t("catalog.needs.nothing", lang)
    if len(parts) == 1:
        return parts[0]
    return t("catalog.needs.join", lang, first=", ".join(parts[:-1]), last=parts[-1])


def card_text(t: Translator, lang: str, model: ModelSpec, price: int | None, free_ids: frozenset[str]) -> str:
    marks = badges(model, free_ids)
    lines = [
        f"<b>{html.escape(model.name.get(lang))}</b> {marks}".rstrip(),
        html.escape(model.description.get(lang)),
        "",
    ]
    lines.append(t("catalog.card.needs", lang, needs=needs_text(t, lang, model)))
    if model.id in free_ids:
        lines.append(t("catalog.card.price_free", lang))
    elif price is not None:
        lines.append(t("catalog.card.price", lang, rub=format_rub(price)))
    lines.append(t("catalog.card.time", lang, seconds=model.typical_seconds))
    if model.good_for:
        lines.append(t("catalog.card.good_for", lang, text=html.escape(model.good_for.get(lang))))
    return "\n".join(lines)


def card_keyboard(t: Translator, lang: str, model: ModelSpec, sec: str, page: int) -> InlineKeyboardMarkup:
    start = InlineKeyboardButton(
        text=t("catalog.card.start", lang), callback_data=StartCb(m=model_key(model.id), sec=sec, page=page).pack()
    )
    back_data = ListCb(sec=sec, page=page).pack() if sec else MenuCb(to=ALL).pack()
    back = InlineKeyboardButton(text=t("catalog.back", lang), callback_data=back_data)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [start],
            [back, InlineKeyboardButton(text=t("catalog.menu", lang), callback_data=HomeCb().pack())],
        ]
    )
