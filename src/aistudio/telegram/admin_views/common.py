"""Pieces every admin screen shares: buttons, the menu, Back and Cancel, times and money."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram.callbacks import AdminCb

MENU = "menu"  # the admin menu itself (AdminCb section); the other sections are listed in callbacks.py


def button(text: str, s: str, a: str = "", id: str = "", p: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=AdminCb(s=s, a=a, id=id, p=p).pack())


def target_id(target: str) -> str:
    """An audit target (`user:42`) in callback data, where ':' separates the fields."""
    return target.replace(":", "~")


def target_of(callback_id: str) -> str:
    return callback_id.replace("~", ":")


def keyboard(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def back_row(t: Translator, lang: str) -> list[InlineKeyboardButton]:
    return [button(t("admin_panel.menu.back", lang), MENU)]


def cancel_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return keyboard([button(t("admin_panel.menu.cancel", lang), MENU, "cancel")])


def menu_text(t: Translator, lang: str) -> str:
    return t("admin_panel.menu.title", lang)


def menu_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    def item(key: str, s: str, a: str = "", p: int = 0) -> InlineKeyboardButton:
        return button(t(f"admin_panel.menu.{key}", lang), s, a, p=p)

    return keyboard(
        [item("dash", "dash")],
        [item("users", "users", "search"), item("gens", "gens", "fails")],
        [item("models", "models", "list"), item("topups", "topups", "list")],
        [item("broadcasts", "bc", "menu"), item("smoke", "smoke", "menu")],
        [item("audit", "audit", "list"), item("version", MENU, "version")],
    )


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def rub(kopecks: int) -> str:
    return format_rub(kopecks)


def signed_rub(kopecks: int) -> str:
    return ("+" if kopecks > 0 else "−") + format_rub(abs(kopecks))


def esc(value: Any) -> str:
    return html.escape(str(value)) if value is not None else "—"


def compact(value: Any, limit: int = 200) -> str:
    """A JSON value on one line, shortened, escaped for HTML."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def percent(rate: float | None, none: str = "—") -> str:
    return none if rate is None else f"{rate * 100:.0f}%"
