"""The wizard's screens: one step, the ⚙️ Settings list and one setting. Texts and keyboards only."""

from __future__ import annotations

import html
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.i18n import Translator
from aistudio.telegram.callbacks import WizCb
from aistudio.telegram.wizard_flow import (
    WizardData,
    choices,
    clip,
    effective_value,
    option_page,
    setting_fields,
    value_text,
    wizard_fields,
)

Screen = tuple[str, InlineKeyboardMarkup]


def button(text: str, action: str, index: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=WizCb(a=action, i=index).pack())


def shown_value(t: Translator, lang: str, f: InputField, value: Any) -> str:
    """A value for a message (escaped: it may be what the user typed); long texts are shortened."""
    typed = f.type == "string" and not f.enum and not f.media
    return html.escape(clip(value_text(t, lang, f, value), 400 if typed else 120))


def ask_text(t: Translator, lang: str, f: InputField) -> str:
    """What to send for this field, and what is allowed."""
    label = html.escape(f.label.get(lang))
    if f.media:
        text = t(f"wizard.ask.{f.media}", lang, label=label)
        if f.is_multi:
            text += "\n" + t("wizard.ask.multi", lang, limit=f.max_items or 10)
        return text
    if choices(f) is not None:
        return t("wizard.ask.choose", lang, label=label)
    if f.type in ("integer", "number"):
        low = "−∞" if f.minimum is None else _number(f.minimum)
        high = "∞" if f.maximum is None else _number(f.maximum)
        return t("wizard.ask.number", lang, label=label, low=low, high=high)
    text = t("wizard.ask.text", lang, label=label)
    if f.max_length:
        text += " " + t("wizard.ask.limit", lang, limit=f.max_length)
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def option_rows(t: Translator, lang: str, f: InputField, current: Any, page: int) -> list[list[InlineKeyboardButton]]:
    options = choices(f) or []
    shown, page, pages = option_page(options, page)
    labels = [(i, ("✓ " if v == current else "") + value_text(t, lang, f, v)) for i, v in shown]
    per_row = 3 if all(len(label) <= 10 for _, label in labels) else 1
    rows = [[button(label, "val", i) for i, label in labels[k : k + per_row]] for k in range(0, len(labels), per_row)]
    nav = []
    if page > 0:
        nav.append(button(t("catalog.prev", lang), "opg", page - 1))
    if page < pages - 1:
        nav.append(button(t("catalog.next", lang), "opg", page + 1))
    if nav:
        rows.append(nav)
    return rows


def field_rows(t: Translator, lang: str, f: InputField, wizard: WizardData) -> list[list[InlineKeyboardButton]]:
    """Buttons for answering one field (options, Done for several files)."""
    current = effective_value(f, wizard.values)
    rows = option_rows(t, lang, f, current, wizard.options_page) if choices(f) is not None else []
    if f.media and f.is_multi and wizard.values.get(f.name):
        rows.append([button(t("wizard.done_files", lang, count=len(wizard.values[f.name])), "done")])
    return rows


def step_screen(
    t: Translator, lang: str, model: ModelSpec, wizard: WizardData, error: list[str] | None = None
) -> Screen:
    fields = wizard_fields(model)
    f = fields[wizard.step]
    lines = [
        f"<b>{html.escape(model.name.get(lang))}</b> · "
        + t("wizard.step", lang, number=wizard.step + 1, count=len(fields)),
        ask_text(t, lang, f),
    ]
    if f.media and f.is_multi and wizard.values.get(f.name):
        lines.append(t("wizard.files_received", lang, count=len(wizard.values[f.name])))
    lines.extend(_errors(error))
    rows = field_rows(t, lang, f, wizard)
    if not f.required and f.default is None and not wizard.values.get(f.name):
        rows.append([button(t("wizard.skip", lang), "skip")])
    rows.append([button(t("wizard.back", lang), "back"), button(t("wizard.cancel", lang), "cancel")])
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _errors(error: list[str] | None) -> list[str]:
    if not error:
        return []
    return ["❗ " + "\n❗ ".join(html.escape(e) for e in error)]


def settings_screen(t: Translator, lang: str, model: ModelSpec, wizard: WizardData) -> Screen:
    lines = [t("wizard.settings.title", lang, model=html.escape(model.name.get(lang)))]
    rows = []
    for index, f in enumerate(setting_fields(model)):
        label = f.label.get(lang)
        value = effective_value(f, wizard.values)
        lines.append(f"• {html.escape(label)}: {shown_value(t, lang, f, value)}")
        rows.append([button(f"{label}: {clip(value_text(t, lang, f, value), 24)}", "fld", index)])
    lines.append(t("wizard.settings.pick", lang))
    rows.append([button(t("wizard.settings.done", lang), "sum")])
    rows.append([button(t("wizard.cancel", lang), "cancel")])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def setting_screen(
    t: Translator, lang: str, model: ModelSpec, wizard: WizardData, error: list[str] | None = None
) -> Screen:
    f = model.field(wizard.edit or "")
    current = effective_value(f, wizard.values)
    lines = [
        t("wizard.settings.one", lang, label=html.escape(f.label.get(lang)), model=html.escape(model.name.get(lang))),
        t("wizard.settings.now", lang, value=shown_value(t, lang, f, current)),
        ask_text(t, lang, f),
    ]
    lines.extend(_errors(error))
    rows = field_rows(t, lang, f, wizard)
    if f.name in wizard.values:
        rows.append([button(t("wizard.settings.reset", lang), "clr")])
    rows.append([button(t("wizard.back", lang), "set"), button(t("wizard.cancel", lang), "cancel")])
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def cancelled_text(t: Translator, lang: str) -> str:
    return t("wizard.cancelled", lang)
