"""The admin's model screens: the paged list with today's figures, and one model's card."""

from __future__ import annotations

from decimal import Decimal

from aiogram.types import InlineKeyboardMarkup

from aistudio.admin.models import ModelRow
from aistudio.catalog.models import ModelSpec
from aistudio.i18n import Translator
from aistudio.telegram.admin_views.common import back_row, button, esc, keyboard, percent
from aistudio.telegram.catalog_views import model_key

PAGE_SIZE = 10


def markup_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _median(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def _mark(row: ModelRow) -> str:
    return "✅" if row.enabled else "⛔"


def page_count(rows: list[ModelRow]) -> int:
    return max(1, -(-len(rows) // PAGE_SIZE))


def list_text(t: Translator, lang: str, rows: list[ModelRow], page: int, default_markup: Decimal) -> str:
    return t(
        "admin_panel.models.title", lang, enabled=sum(r.enabled for r in rows), total=len(rows),
        markup=markup_text(default_markup), page=page + 1, pages=page_count(rows),
    )  # fmt: skip


def list_keyboard(
    t: Translator, lang: str, rows: list[ModelRow], page: int, names: dict[str, str]
) -> InlineKeyboardMarkup:
    shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = []
    for row in shown:
        stats = ""
        if row.stats.finished:
            stats = f" · {percent(row.stats.success_rate)} · {_median(row.stats.median_seconds)}"
        label = t(
            "admin_panel.models.row", lang, mark=_mark(row), name=names.get(row.model_id, row.model_id),
            markup=markup_text(row.markup), stats=stats,
        )  # fmt: skip
        lines.append([button(label, "models", "card", model_key(row.model_id), page)])
    nav = []
    if page > 0:
        nav.append(button(t("admin_panel.models.prev", lang), "models", "list", p=page - 1))
    if page < page_count(rows) - 1:
        nav.append(button(t("admin_panel.models.next", lang), "models", "list", p=page + 1))
    return keyboard(*lines, nav, back_row(t, lang))


def card_text(t: Translator, lang: str, spec: ModelSpec, row: ModelRow, price: str | None) -> str:
    if row.catalog_reason is not None:
        state = t("admin_panel.models.state_catalog", lang, reason=esc(row.catalog_reason))
    elif row.switched_off:
        state = t("admin_panel.models.state_off", lang)
    else:
        state = t("admin_panel.models.state_on", lang)
    return t(
        "admin_panel.models.card", lang, name=esc(spec.name.get(lang)), id=esc(spec.id), state=state,
        markup=markup_text(row.markup),
        default="" if row.markup_overridden else t("admin_panel.models.default_mark", lang),
        price=f"{price} ₽" if price is not None else t("admin_panel.models.no_price", lang),
        finished=row.stats.finished, rate=percent(row.stats.success_rate), median=_median(row.stats.median_seconds),
    )  # fmt: skip


def card_keyboard(t: Translator, lang: str, row: ModelRow, page: int) -> InlineKeyboardMarkup:
    key = model_key(row.model_id)
    toggle = []
    if row.catalog_reason is None:
        toggle = [
            button(t("admin_panel.models.enable", lang), "models", "on", key, page)
            if row.switched_off
            else button(t("admin_panel.models.disable", lang), "models", "off", key, page)
        ]
    markup = [button(t("admin_panel.models.set_markup", lang), "models", "markup", key, page)]
    if row.markup_overridden:
        markup.append(button(t("admin_panel.models.reset_markup", lang), "models", "unmark", key, page))
    smoke = (
        [button(t("admin_panel.models.smoke", lang), "smoke", "run", key, page)] if row.catalog_reason is None else []
    )
    return keyboard(
        toggle, markup, smoke, [button(t("admin_panel.models.list", lang), "models", "list", p=page)], back_row(t, lang)
    )
