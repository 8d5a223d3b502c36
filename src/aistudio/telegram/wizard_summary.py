"""The wizard's last screen: what will be sent, the exact price, the balance after, FREE limits, 🚀 Launch."""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.billing.queries import wallet_balance
from aistudio.catalog.models import ModelSpec
from aistudio.catalog.validation import InputValidationError
from aistudio.generation.launch import LaunchRefused, Offer
from aistudio.i18n import Translator
from aistudio.pricing.free_tier import FreeDecision, FreeLimits
from aistudio.pricing.price import format_rub
from aistudio.telegram.launching import format_wait, top_up_button
from aistudio.telegram.services import BotServices
from aistudio.telegram.wizard_flow import WizardData, effective_value, setting_fields, wizard_fields
from aistudio.telegram.wizard_views import Screen, button, shown_value


@dataclass(frozen=True)
class SummaryFacts:
    offer: Offer | None
    problems: list[str]
    balance: int  # kopecks available
    free: FreeDecision | None  # for a free model: what the user has used
    limits: FreeLimits | None = None

    @property
    def free_now(self) -> bool:
        return self.offer is not None and self.offer.free and self.free is not None and self.free.allowed

    @property
    def price(self) -> int:
        return 0 if self.offer is None else self.offer.quote.kopecks


async def gather(services: BotServices, user_id: int, wizard: WizardData, lang: str) -> SummaryFacts:
    """Price the inputs, read the balance and the FREE allowance."""
    t = services.t
    offer: Offer | None = None
    problems: list[str] = []
    try:
        offer = await services.generations.offer(wizard.model_id, dict(wizard.values))
    except InputValidationError as exc:
        problems = exc.messages(lang)
    except LaunchRefused:
        problems = [t("wizard.refused.model_unavailable", lang)]
    except (ValueError, ArithmeticError):  # a combination of options the price table does not cover
        problems = [t("wizard.no_price", lang)]
    balance = (await wallet_balance(services.engine, user_id)).available
    free = None
    pipeline = services.generations.pipeline
    if offer is not None and offer.free:
        async with pipeline.db.reading() as conn:
            free = await pipeline.free_tier.status(conn, user_id, wizard.model_id)
    return SummaryFacts(offer, problems, balance, free, pipeline.free_tier.limits)


def inputs_lines(t: Translator, lang: str, model: ModelSpec, wizard: WizardData) -> list[str]:
    lines = []
    for f in wizard_fields(model):
        value = effective_value(f, wizard.values)
        if value is None and not f.required:
            continue
        lines.append(f"<b>{html.escape(f.label.get(lang))}:</b> {shown_value(t, lang, f, value)}")
    settings = [
        f"{html.escape(f.label.get(lang))}: {shown_value(t, lang, f, effective_value(f, wizard.values))}"
        for f in setting_fields(model)
        if effective_value(f, wizard.values) is not None
    ]
    if settings:
        lines.append("⚙️ " + " · ".join(settings))
    return lines


def price_lines(t: Translator, lang: str, facts: SummaryFacts) -> list[str]:
    if facts.offer is None:
        return ["❗ " + "\n❗ ".join(html.escape(p) for p in facts.problems), t("wizard.summary.fix", lang)]
    if facts.free_now and facts.free is not None and facts.limits is not None:
        return [
            t(
                "wizard.summary.free", lang,
                left_hour=max(0, facts.limits.per_model_per_hour - facts.free.used_this_hour),
                left_day=max(0, facts.limits.per_model_per_day - facts.free.used_today),
            )
        ]  # fmt: skip
    lines = []
    if facts.offer.free and facts.free is not None:
        lines.append(t("wizard.summary.free_over", lang, wait=format_wait(t, lang, facts.free.retry_at)))
    lines.append(t("wizard.summary.price", lang, rub=format_rub(facts.price)))
    if facts.balance >= facts.price:
        lines.append(t("wizard.summary.balance_after", lang, rub=format_rub(facts.balance - facts.price)))
    else:
        lines.append(
            t(
                "wizard.summary.short",
                lang,
                balance=format_rub(facts.balance),
                short=format_rub(facts.price - facts.balance),
            )
        )
    return lines


def summary_screen(
    t: Translator, lang: str, model: ModelSpec, wizard: WizardData, facts: SummaryFacts, notice: str | None = None
) -> Screen:
    lines = []
    if notice:
        lines.append(notice)
    lines.append(t("wizard.summary.title", lang, model=html.escape(model.name.get(lang))))
    lines.extend(inputs_lines(t, lang, model, wizard))
    lines.append("")
    lines.extend(price_lines(t, lang, facts))
    return "\n".join(lines), summary_keyboard(t, lang, model, facts)


def summary_keyboard(t: Translator, lang: str, model: ModelSpec, facts: SummaryFacts) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if facts.offer is not None:
        if facts.free_now:
            rows.append([button(t("wizard.launch_free", lang), "go")])
        elif facts.balance >= facts.price:
            action = "paid" if facts.offer.free else "go"
            rows.append([button(t("wizard.launch", lang, rub=format_rub(facts.price)), action)])
        else:
            rows.append([top_up_button(t, lang)])
    if setting_fields(model):
        rows.append([button(t("wizard.settings.open", lang), "set")])
    rows.append([button(t("wizard.back", lang), "back"), button(t("wizard.cancel", lang), "cancel")])
    return InlineKeyboardMarkup(inline_keyboard=rows)
