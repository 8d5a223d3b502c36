"""The admin's user screens: search results and the user card."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from aistudio.admin.users import UserCard, UserSummary
from aistudio.i18n import Translator
from aistudio.telegram.admin_views.common import back_row, button, esc, keyboard, rub, target_id, when


def display_name(user: UserSummary) -> str:
    return user.first_name or (f"@{user.username}" if user.username else str(user.id))


def results_keyboard(t: Translator, lang: str, found: list[UserSummary]) -> InlineKeyboardMarkup:
    rows = []
    for user in found:
        label = " ".join(
            p for p in (display_name(user), f"@{user.username}" if user.username else "", f"#{user.id}") if p
        )
        rows.append([button(("🚫 " if user.is_banned else "") + label, "users", "card", str(user.id))])
    return keyboard(*rows, back_row(t, lang))


def card_text(t: Translator, lang: str, card: UserCard) -> str:
    user = card.user
    lines = [
        t(
            "admin_panel.users.card",
            lang,
            name=esc(display_name(user)),
            username=esc(f"@{user.username}") if user.username else "",
            id=user.id,
            lang=card.language,
            banned=t("admin_panel.users.banned_mark", lang) if user.is_banned else "",
            created=when(card.created_at),
            seen=when(card.last_seen_at),
            available=rub(card.balance.available),
            reserved=rub(card.balance.pending),
            generations=card.generations,
            spent=rub(card.spent_kopecks),
            paid_in=rub(card.paid_in_kopecks),
        )
    ]
    lines.append(t("admin_panel.users.last_generations", lang))
    for g in card.last_generations:
        lines.append(
            t(
                "admin_panel.users.generation_line",
                lang,
                created=when(g.created_at),
                rq=g.request_id,
                model=esc(g.model_id),
                state=g.state,
                charged=rub(g.charged_kopecks),
            )
        )
    if not card.last_generations:
        lines.append(t("admin_panel.users.none", lang))
    lines.append(t("admin_panel.users.last_payments", lang))
    for p in card.last_payments:
        lines.append(
            t(
                "admin_panel.users.payment_line",
                lang,
                created=when(p.created_at),
                provider=esc(p.provider),
                status=esc(p.status),
                amount=rub(p.amount_kopecks),
            )
        )
    if not card.last_payments:
        lines.append(t("admin_panel.users.none", lang))
    return "\n".join(lines)


def card_keyboard(t: Translator, lang: str, card: UserCard) -> InlineKeyboardMarkup:
    uid = str(card.user.id)
    ban = (
        button(t("admin_panel.users.unban", lang), "users", "unban", uid)
        if card.user.is_banned
        else button(t("admin_panel.users.ban", lang), "users", "ban", uid)
    )
    return keyboard(
        [button(t("admin_panel.users.adjust", lang), "users", "adjust", uid), ban],
        [button(t("admin_panel.users.message", lang), "users", "msg", uid)],
        [button(t("admin_panel.users.audit", lang), "audit", "list", target_id(f"user:{uid}"))],
        [button(t("admin_panel.users.search_again", lang), "users", "search")],
        back_row(t, lang),
    )
