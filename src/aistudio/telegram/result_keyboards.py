"""Buttons under a result and under a failure notice.

Buttons naming a generation carry its id; the results router checks it belongs to whoever presses.
"""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.catalog.loader import Catalog
from aistudio.generation.repo import Generation
from aistudio.i18n import Translator
from aistudio.telegram.callbacks import GenCb, HomeCb
from aistudio.telegram.catalog_views import model_key
from aistudio.telegram.result_chain import chain_targets


def output_kind(catalog: Catalog, gen: Generation) -> str:
    return catalog.get(gen.model_id).output if gen.model_id in catalog else "text"


def menu_button(t: Translator, lang: str) -> InlineKeyboardButton:
    """🏠 Menu that also ends any flow the user was in."""
    return InlineKeyboardButton(text=t("results.menu", lang), callback_data=HomeCb().pack())


def repeat_button(t: Translator, lang: str, gen: Generation) -> InlineKeyboardButton:
    """🔁 Repeat: the same inputs again, after a fresh price check (also offered by the history screen)."""
    return InlineKeyboardButton(text=t("results.repeat", lang), callback_data=GenCb(a="rep", id=gen.id).pack())


def after_result(t: Translator, lang: str, gen: Generation, catalog: Catalog | None = None) -> InlineKeyboardMarkup:
    rows = [
        [
            repeat_button(t, lang, gen),
            InlineKeyboardButton(text=t("results.change", lang), callback_data=GenCb(a="chg", id=gen.id).pack()),
        ]
    ]
    if catalog is not None and gen.result_urls and chain_targets(catalog, output_kind(catalog, gen), gen.model_id):
        rows.append(
            [InlineKeyboardButton(text=t("results.use_in", lang), callback_data=GenCb(a="use", id=gen.id).pack())]
        )
    rows.append([menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def after_failure(t: Translator, lang: str, gen: Generation) -> InlineKeyboardMarkup:
    retry = InlineKeyboardButton(text=t("results.retry", lang), callback_data=GenCb(a="retry", id=gen.id).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[retry], [menu_button(t, lang)]])


def chain_keyboard(t: Translator, lang: str, gen: Generation, catalog: Catalog) -> InlineKeyboardMarkup:
    """The models this result can go into."""
    rows = []
    for model in chain_targets(catalog, output_kind(catalog, gen), gen.model_id):
        text = t(
            "results.chain_button",
            lang,
            model=model.name.get(lang),
            task=t(f"catalog.categories.{model.category.value}", lang),
        )
        rows.append(
            [InlineKeyboardButton(text=text, callback_data=GenCb(a="to", id=gen.id, m=model_key(model.id)).pack())]
        )
    rows.append([menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
