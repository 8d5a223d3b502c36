"""Callback data factories (≤ 64 bytes each). Every prefix has exactly one router handling it."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="m"):
    """Main menu navigation: `to` is a menu item (see keyboards.MAIN_MENU_ITEMS) or "main"."""

    to: str


class LangCb(CallbackData, prefix="lang"):
    code: str
