"""Screens and messages of paying: the top-up methods, packs, custom amounts, invoices and their outcomes.

Texts come from `locales/*/payments.yaml`.
"""

from __future__ import annotations

import html
import json
from decimal import Decimal

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from aistudio.config import Settings
from aistudio.i18n import Translator
from aistudio.payments.packs import STARS, Pack, rub_limits, rub_packs, stars_limits, stars_packs, yookassa_enabled
from aistudio.payments.refunds import RefundOutcome
from aistudio.pricing.price import format_rub
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.keyboards import menu_button


class PayCb(CallbackData, prefix="pay"):
    """`a`: s (a Stars pack of `n` Stars), sc (a custom number of Stars), y (the card screen),
    yp (a card pack of `n` roubles), yc (a custom rouble amount), back (the top-up screen)."""

    a: str
    n: int = 0


class PayStates(StatesGroup):
    stars_amount = State()  # waiting for the number of Stars the user types
    rub_amount = State()  # waiting for a rouble amount


def rate_text(settings: Settings) -> str:
    return format(settings.stars_rub_per_star.normalize(), "f")


def _rows(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def topup_text(t: Translator, lang: str, settings: Settings, balance_kopecks: int) -> str:
    low, high = stars_limits(settings)
    parts = [
        t("payments.topup.title", lang),
        t("payments.topup.balance", lang, rub=format_rub(balance_kopecks)),
        "",
        t("payments.topup.stars", lang, rate=rate_text(settings), min=low, max=high),
    ]
    if yookassa_enabled(settings):
        parts.append(t("payments.topup.card", lang))
    parts.append(t("payments.topup.other" if settings.manual_transfer_enabled else "payments.topup.other_promo", lang))
    return "\n".join(parts)


def topup_keyboard(t: Translator, lang: str, settings: Settings, back: InlineKeyboardButton) -> InlineKeyboardMarkup:
    """Stars packs, a custom number of Stars, the card, bank transfer (when enabled), promo code, Back, Menu."""
    packs = [
        InlineKeyboardButton(
            text=t("payments.buttons.star_pack", lang, stars=p.amount, rub=format_rub(p.credit_kopecks)),
            callback_data=PayCb(a="s", n=p.amount).pack(),
        )
        for p in stars_packs(settings)
    ]
    rows = _rows(packs)
    rows.append(
        [InlineKeyboardButton(text=t("payments.buttons.stars_custom", lang), callback_data=PayCb(a="sc").pack())]
    )
    if yookassa_enabled(settings):
        rows.append([InlineKeyboardButton(text=t("payments.buttons.card", lang), callback_data=PayCb(a="y").pack())])
    others = []
    if settings.manual_transfer_enabled:
        others.append(
            InlineKeyboardButton(
                text=t("payments.buttons.manual", lang), callback_data=MenuCb(to="manual_topup").pack()
            )
        )
    others.append(InlineKeyboardButton(text=t("payments.buttons.promo", lang), callback_data=MenuCb(to="promo").pack()))
    rows.append(others)
    rows.append([back, menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_to_topup(t: Translator, lang: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("payments.buttons.back_topup", lang), callback_data=PayCb(a="back").pack())


def card_text(t: Translator, lang: str, settings: Settings) -> str:
    low, high = rub_limits(settings)
    text = t("payments.card.title", lang, min=low, max=high)
    if settings.yookassa_receipt_required:
        text += "\n" + t("payments.card.receipt", lang)
    return text


def card_keyboard(t: Translator, lang: str, settings: Settings) -> InlineKeyboardMarkup:
    packs = [
        InlineKeyboardButton(
            text=t("payments.buttons.card_pack", lang, rub=p.units), callback_data=PayCb(a="yp", n=p.units).pack()
        )
        for p in rub_packs(settings)
    ]
    rows = _rows(packs, 3)
    rows.append(
        [InlineKeyboardButton(text=t("payments.buttons.card_custom", lang), callback_data=PayCb(a="yc").pack())]
    )
    rows.append([back_to_topup(t, lang), menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def custom_prompt(t: Translator, lang: str, settings: Settings, provider: str) -> str:
    if provider == STARS:
        low, high = stars_limits(settings)
        return t("payments.custom.stars_prompt", lang, min=low, max=high, rate=rate_text(settings))
    low, high = rub_limits(settings)
    return t("payments.custom.rub_prompt", lang, min=low, max=high)


def prompt_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[back_to_topup(t, lang), menu_button(t, lang)]])


def invoice_texts(t: Translator, lang: str, pack: Pack, ttl_seconds: int) -> tuple[str, str, str]:
    """Title (≤ 32 characters), description (≤ 255) and the price label of an invoice; plain text."""
    rub = format_rub(pack.credit_kopecks)
    minutes = max(1, ttl_seconds // 60)
    title = t("payments.invoice.title", lang, rub=rub)[:32]
    if pack.provider == STARS:
        description = t("payments.invoice.stars_description", lang, stars=pack.amount, rub=rub, minutes=minutes)
    else:
        description = t("payments.invoice.rub_description", lang, rub=rub, minutes=minutes)
    return title, description[:255], t("payments.invoice.label", lang)


def invoice_prices(label: str, pack: Pack) -> list[LabeledPrice]:
    """Exactly one price item (Stars require it; roubles keep the same shape)."""
    return [LabeledPrice(label=label, amount=pack.amount)]


def invoice_keyboard(t: Translator, lang: str, pack: Pack) -> InlineKeyboardMarkup:
    """The Pay button must come first on an invoice; the menu under it."""
    if pack.provider == STARS:
        pay_text = t("payments.buttons.pay_stars", lang, stars=pack.amount)
    else:
        pay_text = t("payments.buttons.pay_rub", lang, rub=format_rub(pack.amount))
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=pay_text, pay=True)], [menu_button(t, lang)]]
    )


def receipt_provider_data(settings: Settings, description: str, pack: Pack) -> str:
    """YooKassa's receipt (54-FZ) for Telegram Payments: one item, quantity "1.00", the amount in roubles.

    Telegram adds the customer's email (need_email + send_email_to_provider) before passing it on.
    """
    value = format(Decimal(pack.amount) / 100, ".2f")
    item = {
        "description": description[:128],
        "quantity": "1.00",
        "amount": {"value": value, "currency": "RUB"},
        "vat_code": settings.yookassa_vat_code,
    }
    return json.dumps({"receipt": {"items": [item]}}, ensure_ascii=False)


def paid_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    balance = InlineKeyboardButton(text=t("menu.items.balance", lang), callback_data=MenuCb(to="balance").pack())
    return InlineKeyboardMarkup(inline_keyboard=[[balance, menu_button(t, lang)]])


def support_text(custom: str | None, t: Translator, lang: str, key: str, support: str) -> str:
    """/paysupport and /terms: the operator's own text when set, else ours naming the support contact."""
    if custom:
        return custom
    return t(key, lang, support=html.escape(support))


def refund_outcome_text(t: Translator, lang: str, charge_id: str, outcome: RefundOutcome) -> str:
    """What an admin reads before (a preview) and after a refund attempt (the /refund command, the admin panel)."""
    params: dict[str, object] = {
        "charge": html.escape(charge_id),
        "user": outcome.user_id,
        "rub": format_rub(outcome.amount_kopecks),
        "bonus": format_rub(outcome.bonus_kopecks),
        "total": format_rub(outcome.total_kopecks),
        "stars": outcome.stars,
        "available": format_rub(outcome.available_kopecks or 0),
        "detail": html.escape(outcome.detail),
        "referrer": outcome.referrer_id,
        "referral": format_rub(outcome.referral_kopecks),
        "clawed": format_rub(outcome.referral_clawed_kopecks),
    }
    if outcome.status == "preview":
        if not outcome.credited:
            return t("payments.admin.preview_uncredited", lang, **params)
        referral = t("payments.admin.preview_referral", lang, **params) if outcome.referral_kopecks else ""
        return t("payments.admin.preview", lang, **{**params, "referral": referral})
    if outcome.status == "refunded":
        if not outcome.credited:
            return t("payments.admin.refunded_uncredited", lang, **params)
        key = "refunded_already" if outcome.detail == "CHARGE_ALREADY_REFUNDED" else "refunded"
        return t(f"payments.admin.{key}", lang, **{**params, **_refund_footnotes(t, lang, outcome, params)})
    return t(f"payments.admin.{outcome.status}", lang, **params)


def _refund_footnotes(t: Translator, lang: str, outcome: RefundOutcome, params: dict[str, object]) -> dict[str, str]:
    """The referrer's part and anything that could not be taken back (for the admin to sort out)."""
    referral = ""
    if outcome.referral_kopecks:
        short = outcome.referral_unrecovered_kopecks
        key = "referral_short" if short else "referral_taken"
        referral = t(f"payments.admin.{key}", lang, **{**params, "lost": format_rub(short)})
    unrecovered = ""
    if outcome.unrecovered_kopecks:
        lost = format_rub(outcome.unrecovered_kopecks)
        unrecovered = t("payments.admin.unrecovered", lang, **{**params, "lost": lost})
    return {"referral": referral, "unrecovered": unrecovered}
