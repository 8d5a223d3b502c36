"""Screens of manual transfers: the user's steps, and the admins' review card. Texts: locales/*/manual_topup.yaml."""

from __future__ import annotations

import html
from datetime import timedelta, timezone

from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.i18n import Translator
from aistudio.payments.manual import TopupRequest
from aistudio.pricing.price import format_rub
from aistudio.telegram.balance_views import BalanceCb
from aistudio.telegram.callbacks import AdminCb, HomeCb
from aistudio.telegram.keyboards import menu_button

MOSCOW = timezone(timedelta(hours=3))
SECTION = "topups"
ADMIN_MENU = "menu"  # the admin panel's own section (its Back button)


class ManualTopupStates(StatesGroup):
    screenshot = State()  # waiting for the receipt's picture


class TopupReviewStates(StatesGroup):
    amount = State()  # an admin types the amount for the request in the data's "request_id"
    reason = State()  # an admin types why the request is rejected


def rub(kopecks: int) -> str:
    return format_rub(kopecks)


def _admin_button(text: str, a: str, request_id: int | str = "", p: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=AdminCb(s=SECTION, a=a, id=str(request_id), p=p).pack())


# --- the user's side ------------------------------------------------------------------------------------


def intro_text(t: Translator, lang: str, details: str, min_kopecks: int) -> str:
    return t("manual_topup.intro", lang, min=rub(min_kopecks), details=html.escape(details.strip()))


def intro_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    back = InlineKeyboardButton(text=t("manual_topup.back", lang), callback_data=BalanceCb(action="topup").pack())
    cancel = InlineKeyboardButton(text=t("manual_topup.cancel", lang), callback_data=HomeCb().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[back, cancel]])


def step_keyboard(t: Translator, lang: str) -> InlineKeyboardMarkup:
    cancel = InlineKeyboardButton(text=t("manual_topup.cancel", lang), callback_data=HomeCb().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[cancel]])


def received_text(t: Translator, lang: str, request: TopupRequest) -> str:
    unknown = t("manual_topup.unknown", lang)
    amount = (
        t("manual_topup.amount", lang, rub=rub(request.ocr_amount_kopecks))
        if request.ocr_amount_kopecks is not None
        else t("manual_topup.amount_unknown", lang)
    )
    recognised = t(
        "manual_topup.recognised",
        lang,
        amount=amount,
        txn=html.escape(request.ocr_txn_id or unknown),
        date=html.escape(request.ocr_date or unknown),
    )
    return t("manual_topup.received", lang, id=request.id, recognised=recognised)


def credited_text(t: Translator, lang: str, request: TopupRequest) -> str:
    return t("manual_topup.credited", lang, id=request.id, rub=rub(request.amount_kopecks or 0))


def rejected_text(t: Translator, lang: str, request: TopupRequest, support: str) -> str:
    parts = [t("manual_topup.rejected", lang, id=request.id)]
    if request.reason:
        parts.append(t("manual_topup.rejected_reason", lang, reason=html.escape(request.reason)))
    parts.append(t("manual_topup.rejected_help", lang, support=html.escape(support)))
    return "\n".join(parts)


# --- the admins' side -----------------------------------------------------------------------------------


def review_caption(
    t: Translator,
    lang: str,
    request: TopupRequest,
    *,
    user_label: str,
    repeat_payer: bool,
    min_kopecks: int,
    decided_by_label: str | None = None,
    auto_limit_kopecks: int = 0,
) -> str:
    """The card under the receipt image; once decided, it ends with the outcome and who decided."""
    lines = [t("manual_topup.admin.title", lang, id=request.id)]
    lines.append(t("manual_topup.admin.from", lang, user=html.escape(user_label), user_id=request.user_id))
    proposed = request.proposed_kopecks
    if proposed is None:
        lines.append(t("manual_topup.admin.amount_unknown", lang))
    elif request.ocr_amount_kopecks is not None and proposed != request.ocr_amount_kopecks:
        lines.append(
            t("manual_topup.admin.amount_edited", lang, rub=rub(proposed), ocr=rub(request.ocr_amount_kopecks))
        )
    else:
        lines.append(t("manual_topup.admin.amount", lang, rub=rub(proposed)))
    if request.ocr_txn_id:
        lines.append(t("manual_topup.admin.txn", lang, txn=html.escape(request.ocr_txn_id)))
    if request.ocr_date:
        lines.append(t("manual_topup.admin.date", lang, date=html.escape(request.ocr_date)))
    if request.duplicate_of is not None:
        key = "duplicate_image" if request.duplicate_kind == "image" else "duplicate_txn"
        lines.append(t(f"manual_topup.admin.{key}", lang, other=request.duplicate_of))
    if proposed is not None and proposed < min_kopecks:
        lines.append(t("manual_topup.admin.below_min", lang, min=rub(min_kopecks)))
    lines.append(t("manual_topup.admin.repeat_payer" if repeat_payer else "manual_topup.admin.first_payer", lang))
    if request.status != "pending":
        lines.append("")
        lines.append(outcome_text(t, lang, request, decided_by_label or "?", auto_limit_kopecks))
    return "\n".join(lines)


def outcome_text(t: Translator, lang: str, request: TopupRequest, admin_label: str, auto_limit_kopecks: int) -> str:
    when = request.decided_at.astimezone(MOSCOW).strftime("%d.%m %H:%M") if request.decided_at else ""
    if request.auto_approved:
        limit = rub(auto_limit_kopecks)
        return t("manual_topup.admin.outcome_auto", lang, rub=rub(request.amount_kopecks or 0), limit=limit, time=when)
    if request.status == "approved":
        who = html.escape(admin_label)
        return t(
            "manual_topup.admin.outcome_approved", lang, rub=rub(request.amount_kopecks or 0), admin=who, time=when
        )
    text = t("manual_topup.admin.outcome_rejected", lang, admin=html.escape(admin_label), time=when)
    if request.reason:
        text += "\n" + t("manual_topup.admin.outcome_reason", lang, reason=html.escape(request.reason))
    return text


def already_decided_text(t: Translator, lang: str, request: TopupRequest, admin_label: str) -> str:
    if request.status == "approved":
        outcome = t(
            "manual_topup.admin.already_approved", lang, rub=rub(request.amount_kopecks or 0), admin=admin_label
        )
    else:
        outcome = t("manual_topup.admin.already_rejected", lang, admin=admin_label)
    return t("manual_topup.admin.already", lang, id=request.id, outcome=outcome)


def review_keyboard(t: Translator, lang: str, request: TopupRequest) -> InlineKeyboardMarkup | None:
    """Approve (when an amount is known) / Edit amount / Reject; nothing once decided."""
    if request.status != "pending":
        return None
    rows = []
    proposed = request.proposed_kopecks
    if proposed is not None:
        # The amount rides in the button: Approve credits what the admin saw, even if another admin edits it.
        rows.append(
            [_admin_button(t("manual_topup.admin.approve", lang, rub=rub(proposed)), "ok", request.id, proposed)]
        )
    rows.append(
        [
            _admin_button(t("manual_topup.admin.edit", lang), "edit", request.id),
            _admin_button(t("manual_topup.admin.reject", lang), "no", request.id),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def prompt_keyboard(t: Translator, lang: str, request_id: int, *, reject: bool = False) -> InlineKeyboardMarkup:
    rows = []
    if reject:
        rows.append([_admin_button(t("manual_topup.admin.reject_no_reason", lang), "nr", request_id)])
    rows.append([_admin_button(t("manual_topup.admin.cancel", lang), "cancel", request_id)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_keyboard(t: Translator, lang: str, request_id: int, kopecks: int) -> InlineKeyboardMarkup:
    approve = _admin_button(t("manual_topup.admin.approve", lang, rub=rub(kopecks)), "ok", request_id, kopecks)
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [approve],
            [
                _admin_button(t("manual_topup.admin.edit", lang), "edit", request_id),
                _admin_button(t("manual_topup.admin.reject", lang), "no", request_id),
            ],
        ]
    )


def list_text(t: Translator, lang: str, count: int, shown: int) -> str:
    if count == 0:
        return t("manual_topup.admin.list_empty", lang)
    text = t("manual_topup.admin.list_title", lang, count=count)
    if shown < count:
        text += "\n" + t("manual_topup.admin.list_more", lang, shown=shown)
    return text


def list_keyboard(
    t: Translator, lang: str, requests: list[TopupRequest], user_labels: dict[int, str]
) -> InlineKeyboardMarkup:
    rows = []
    for request in requests:
        proposed = request.proposed_kopecks
        amount = f"{rub(proposed)} ₽" if proposed is not None else "?"
        flag = " ⚠️" if request.duplicate_of is not None else ""
        label = t("manual_topup.admin.list_item", lang, id=request.id, amount=amount, user=user_labels[request.user_id])
        rows.append([_admin_button(label + flag, "open", request.id)])
    rows.append(
        [
            _admin_button(t("manual_topup.admin.refresh", lang), "list"),
            InlineKeyboardButton(text=t("manual_topup.admin.back", lang), callback_data=AdminCb(s=ADMIN_MENU).pack()),
        ]
    )
    rows.append([menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
