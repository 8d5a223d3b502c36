"""Keyboards shared by several routers. Texts come from the locale files."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.i18n import Translator
from aistudio.telegram.callbacks import MenuCb


def menu_button(t: Translator, lang: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("menu.back_to_menu", lang), callback_data=MenuCb(to="main").pack())


def back_to_menu(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t, lang)]])


MAIN_MENU_ITEMS: list[list[str]] = [
    ["video", "images"],
    ["edit", "upscale"],
    ["audio", "animate"],
    ["catalog", "free"],
    ["balance", "history"],
    ["invite"],
    ["help", "lang"],
]


def main_menu(t: Translator, lang: str) -> InlineKeyboardMarkup:
    """Task first: what the user wants to make, then the catalog, money and help."""
    rows = [
        [InlineKeyboardButton(text=t(f"menu.items.{item}", lang), callback_data=MenuCb(to=item).pack()) for item in row]
        for row in MAIN_MENU_ITEMS
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
