"""Buttons under a result and under a failure notice."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from aistudio.generation.repo import Generation
from aistudio.i18n import Translator
from aistudio.telegram.keyboards import back_to_menu


def after_result(t: Translator, lang: str, gen: Generation) -> InlineKeyboardMarkup:
    return back_to_menu(t, lang)


def after_failure(t: Translator, lang: str, gen: Generation) -> InlineKeyboardMarkup:
    return back_to_menu(t, lang)
