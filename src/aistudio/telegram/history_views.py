"""What the history screens say and which buttons they carry. Texts come from `locales/*/history.yaml`."""

from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.catalog.loader import Catalog
from aistudio.generation.repo import Generation
from aistudio.generation.states import State
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram.history_queries import HistoryItem, HistoryPage
from aistudio.telegram.keyboards import menu_button

PER_PAGE = 8
PROMPT_LIMIT = 300  # characters of the prompt echoed in the details
# Our users are mostly in Russia; Moscow time has had no daylight saving since 2014.
MOSCOW = timezone(timedelta(hours=3))


class HistoryCb(CallbackData, prefix="hi"):
    """`action`: page (show `page`), open (details of `gen`), resend (the stored files of `gen`)."""

    action: str
    page: int = 0
    gen: int = 0


def status_of(state: str) -> str:
    """done | failed | running: the three things a user cares about."""
    if state == State.COMPLETED:
        return "done"
    if state == State.FAILED:
        return "failed"
    return "running"


def model_name(catalog: Catalog, model_id: str, lang: str) -> str:
    """The catalog's name for the model, escaped for HTML; the id when the model left the catalog."""
    try:
        return html.escape(catalog.get(model_id).name.get(lang))
    except KeyError:
        return html.escape(model_id)


def short_date(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m %H:%M")


def full_date(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


def price_words(t: Translator, lang: str, state: str, is_free: bool, price: int, charged: int) -> str:
    """What happened to the money: paid, refunded, reserved, or free."""
    if is_free:
        return t("history.price.free", lang)
    status = status_of(state)
    if status == "done":
        return t("history.price.paid", lang, rub=format_rub(charged or price))
    if status == "failed":
        return t("history.price.refunded", lang, rub=format_rub(price))
    return t("history.price.reserved", lang, rub=format_rub(price))


def list_text(t: Translator, lang: str, catalog: Catalog, page: HistoryPage) -> str:
    lines = [t("history.title", lang, page=page.page + 1, pages=page.pages, total=page.total)]
    first = page.page * PER_PAGE + 1
    for number, item in enumerate(page.items, start=first):
        lines.append(
            t(
                "history.line",
                lang,
                number=number,
                icon=t(f"history.icon.{status_of(item.state)}", lang),
                model=model_name(catalog, item.model_id, lang),
                date=short_date(item.created_at),
                price=price_words(t, lang, item.state, item.is_free, item.price_kopecks, item.charged_kopecks),
            )
        )
    lines.append(t("history.pick", lang))
    return "\n".join(lines)


def _item_button(t: Translator, lang: str, catalog: Catalog, item: HistoryItem, number: int, page: int) -> Any:
    text = t(
        "history.button",
        lang,
        number=number,
        icon=t(f"history.icon.{status_of(item.state)}", lang),
        model=html.unescape(model_name(catalog, item.model_id, lang)),  # button texts are not HTML
    )
    return InlineKeyboardButton(text=text, callback_data=HistoryCb(action="open", page=page, gen=item.id).pack())


def list_keyboard(t: Translator, lang: str, catalog: Catalog, page: HistoryPage) -> InlineKeyboardMarkup:
    first = page.page * PER_PAGE + 1
    rows = [
        [_item_button(t, lang, catalog, item, number, page.page)] for number, item in enumerate(page.items, start=first)
    ]
    paging = []
    if page.page > 0:
        paging.append(
            InlineKeyboardButton(
                text=t("history.newer", lang), callback_data=HistoryCb(action="page", page=page.page - 1).pack()
            )
        )
    if page.page + 1 < page.pages:
        paging.append(
            InlineKeyboardButton(
                text=t("history.older", lang), callback_data=HistoryCb(action="page", page=page.page + 1).pack()
            )
        )
    if paging:
        rows.append(paging)
    rows.append([menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def prompt_of(inputs: dict[str, Any]) -> str | None:
    """The text the user typed, if the model took one."""
    for key in ("prompt", "text", "lyrics", "input_text"):
        value = inputs.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def details_text(t: Translator, lang: str, catalog: Catalog, gen: Generation) -> str:
    status = status_of(gen.state)
    lines = [
        t("history.details.model", lang, model=model_name(catalog, gen.model_id, lang)),
        t(f"history.details.status_{status}", lang),
        t("history.details.date", lang, date=full_date(gen.created_at)),
    ]
    prompt = prompt_of(gen.inputs)
    if prompt is not None:
        cut = prompt if len(prompt) <= PROMPT_LIMIT else prompt[:PROMPT_LIMIT].rstrip() + "…"
        lines.append(t("history.details.prompt", lang, prompt=html.escape(cut)))
    price = price_words(t, lang, gen.state, gen.is_free, gen.price_kopecks, gen.charged_kopecks)
    lines.append(t("history.details.price", lang, price=price))
    if status == "failed" and gen.error_class and t.has(f"generation.error.{gen.error_class}"):
        lines.append(t(f"generation.error.{gen.error_class}", lang))
    lines.append(t("history.details.request_id", lang, request_id=html.escape(gen.request_id)))
    return "\n".join(lines)


def can_resend(gen: Generation) -> bool:
    return gen.state == State.COMPLETED and any(f.get("file_id") or f.get("url") for f in gen.result_files)


def details_keyboard(
    t: Translator, lang: str, gen: Generation, page: int, repeat: InlineKeyboardButton | None
) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    actions = []
    if can_resend(gen):
        actions.append(
            InlineKeyboardButton(
                text=t("history.resend", lang), callback_data=HistoryCb(action="resend", page=page, gen=gen.id).pack()
            )
        )
    if repeat is not None:
        actions.append(repeat)
    if actions:
        rows.append(actions)
    back = InlineKeyboardButton(text=t("history.back", lang), callback_data=HistoryCb(action="page", page=page).pack())
    rows.append([back, menu_button(t, lang)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
