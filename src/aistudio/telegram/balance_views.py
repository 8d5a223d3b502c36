"""The balance screen: balance, money reserved, the last ledger entries in plain words, the top-up button.

Texts come from `locales/*/balance.yaml`.
"""

from __future__ import annotations

import html
from datetime import timedelta, timezone

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.billing.queries import Balance
from aistudio.catalog.loader import Catalog
from aistudio.config import Settings
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram import payment_views
from aistudio.telegram.balance_queries import StatementEntry
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.keyboards import menu_button

MOSCOW = timezone(timedelta(hours=3))  # no daylight saving since 2014
# Where a credit came from → the words for it (`balance.entry.<word>`).
CREDIT_SOURCES = {"bonus": "bonus", "promo": "promo", "referral": "referral", "adjustments": "adjust"}


class BalanceCb(CallbackData, prefix="bal"):
    """`action`: show (the balance screen) or topup (the ways to add money)."""

    action: str


def signed_rub(kopecks: int) -> str:
    return ("+" if kopecks > 0 else "−" if kopecks < 0 else "") + format_rub(abs(kopecks))


def _model(catalog: Catalog, model_id: str | None, lang: str) -> str:
    if not model_id:
        return "?"
    try:
        return html.escape(catalog.get(model_id).name.get(lang))
    except KeyError:
        return html.escape(model_id)


def entry_key(entry: StatementEntry) -> str:
    """Which `balance.entry.*` text describes this ledger line."""
    line = entry.line
    if line.kind == "hold":
        return {"pending": "hold_pending", "captured": "hold_captured"}.get(line.status, "hold_released")
    if line.kind == "capture":
        return "capture"
    if line.kind == "adjust":
        return "adjust"
    if line.kind == "credit":
        source = entry.counterparty or ""
        return CREDIT_SOURCES.get(source, "topup")
    if line.kind == "debit":
        return "debit"
    return "other"


def entry_text(t: Translator, lang: str, catalog: Catalog, entry: StatementEntry) -> str:
    line = entry.line
    return t(
        f"balance.entry.{entry_key(entry)}",
        lang,
        date=line.created_at.astimezone(MOSCOW).strftime("%d.%m %H:%M"),
        rub=format_rub(abs(line.amount)),
        signed=signed_rub(line.amount),
        model=_model(catalog, entry.model_id, lang),
    )


def balance_text(t: Translator, lang: str, catalog: Catalog, balance: Balance, entries: list[StatementEntry]) -> str:
    parts = [t("balance.title", lang, rub=format_rub(balance.available))]
    if balance.pending:
        parts.append(t("balance.reserved", lang, rub=format_rub(balance.pending)))
    parts.append("")
    if entries:
        parts.append(t("balance.recent", lang))
        parts.extend(entry_text(t, lang, catalog, entry) for entry in entries)
    else:
        parts.append(t("balance.no_entries", lang))
    return "\n".join(parts)


def balance_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("balance.topup", lang), callback_data=BalanceCb(action="topup").pack()),
                InlineKeyboardButton(text=t("menu.items.history", lang), callback_data=MenuCb(to="history").pack()),
            ],
            [menu_button(t, lang)],
        ]
    )


def topup_text(t: Translator, lang: str, settings: Settings, balance_kopecks: int) -> str:
    """The top-up screen: the balance now and the ways to add money (see `payment_views`)."""
    return payment_views.topup_text(t, lang, settings, balance_kopecks)


def topup_keyboard(t: Translator, lang: str, settings: Settings) -> InlineKeyboardMarkup:
    back = InlineKeyboardButton(text=t("balance.back", lang), callback_data=BalanceCb(action="show").pack())
    return payment_views.topup_keyboard(t, lang, settings, back)
