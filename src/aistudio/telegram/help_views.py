"""Help and FAQ screens: one button per topic. Texts come from `locales/*/help.yaml`."""

from __future__ import annotations

import html

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.catalog.loader import Catalog
from aistudio.config import Settings
from aistudio.i18n import Translator
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.keyboards import menu_button

TOPICS: list[list[str]] = [["free", "pricing"], ["topup", "errors"], ["support"]]


class HelpCb(CallbackData, prefix="hp"):
    """`topic`: main (the list of questions) or one of `TOPICS`."""

    topic: str


def is_topic(topic: str) -> bool:
    return any(topic in row for row in TOPICS)


def main_text(t: Translator, lang: str) -> str:
    return t("help.main", lang)


def topic_button(t: Translator, lang: str, topic: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t(f"help.topics.{topic}", lang), callback_data=HelpCb(topic=topic).pack())


def main_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    rows = [[topic_button(t, lang, topic) for topic in row] for row in TOPICS]
    rows.append([menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def free_models_text(t: Translator, lang: str, catalog: Catalog, free_ids: frozenset[str]) -> str:
    names = sorted(catalog.get(model_id).name.get(lang) for model_id in free_ids if model_id in catalog)
    if not names:
        return t("help.free_none", lang)
    return "\n".join(t("help.free_model", lang, name=html.escape(name)) for name in names)


def topic_text(
    t: Translator, lang: str, topic: str, *, settings: Settings, catalog: Catalog, free_ids: frozenset[str]
) -> str:
    support = html.escape(settings.support_contact)
    if topic == "free":
        return t(
            "help.answers.free",
            lang,
            models=free_models_text(t, lang, catalog, free_ids),
            per_day=settings.free_per_model_per_day,
            per_hour=settings.free_per_model_per_hour,
        )
    return t(f"help.answers.{topic}", lang, support=support)


def topic_keyboard(t: Translator, lang: str, topic: str) -> InlineKeyboardMarkup:
    rows = []
    if topic == "topup":
        rows.append(
            [InlineKeyboardButton(text=t("menu.items.balance", lang), callback_data=MenuCb(to="balance").pack())]
        )
    elif topic == "free":
        rows.append([InlineKeyboardButton(text=t("menu.items.free", lang), callback_data=MenuCb(to="free").pack())])
    back = InlineKeyboardButton(text=t("help.back", lang), callback_data=HelpCb(topic="main").pack())
    rows.append([back, menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
