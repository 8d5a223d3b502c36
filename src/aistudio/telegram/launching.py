"""Launching a priced offer from a chat: the domain's refusals in the user's words, and the progress message.

Used by the wizard's 🚀 Launch and by the result buttons (🔁 Repeat, Retry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot
from aiogram.types import InlineKeyboardButton

from aistudio.billing.errors import InsufficientFunds
from aistudio.db.sql import utcnow
from aistudio.generation.launch import LaunchRefused, Offer
from aistudio.generation.repo import Generation
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram import progress
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchOutcome:
    gen: Generation | None
    notice: str | None = None  # why nothing was launched, for the user
    short_by: int = 0  # kopecks missing when the balance was short
    reason: str | None = None  # insufficient_funds, or LaunchRefused's reason


def format_wait(t: Translator, lang: str, until: datetime | None, now: datetime | None = None) -> str:
    """ "in 1 h 5 min": how long until `until` (rounded up to a minute)."""
    if until is None:
        return t("wizard.wait.later", lang)
    seconds = max(0.0, (until - (now or utcnow())).total_seconds())
    minutes = max(1, -(-int(seconds) // 60))
    hours, minutes = divmod(minutes, 60)
    if hours and not minutes:
        return t("wizard.wait.hours_only", lang, hours=hours)
    if hours:
        return t("wizard.wait.hours", lang, hours=hours, minutes=minutes)
    return t("wizard.wait.minutes", lang, minutes=minutes)


def refusal_text(t: Translator, lang: str, exc: LaunchRefused) -> str:
    if exc.reason == "too_many_running":
        return t("wizard.refused.too_many_running", lang, running=exc.details.get("running", 2))
    if exc.reason == "free_limit":
        if exc.details.get("retry_at") is None:
            return t("wizard.refused.free_cap", lang)
        return t("wizard.refused.free_limit", lang, wait=format_wait(t, lang, exc.details.get("retry_at")))
    return t("wizard.refused.model_unavailable", lang)


def top_up_button(t: Translator, lang: str) -> InlineKeyboardButton:
    """💳 Top up: the balance screen, where top-ups live."""
    return InlineKeyboardButton(text=t("wizard.top_up", lang), callback_data=MenuCb(to="balance").pack())


async def launch_offer(
    services: BotServices,
    bot: Bot,
    *,
    user_id: int,
    chat_id: int,
    lang: str,
    offer: Offer,
    source_id: int | None = None,
    pay_if_not_free: bool = False,
    request_id: str | None = None,
) -> LaunchOutcome:
    """Launch, then send the progress message; refusals come back as words, nothing charged."""
    t = services.t
    try:
        gen = await services.generations.launch(
            user_id,
            offer,
            chat_id=chat_id,
            source_generation_id=source_id,
            pay_if_not_free=pay_if_not_free,
            request_id=request_id,
        )
    except InsufficientFunds as exc:
        text = t(
            "wizard.refused.insufficient", lang, shortfall=format_rub(exc.shortfall), balance=format_rub(exc.available)
        )
        return LaunchOutcome(None, text, exc.shortfall, "insufficient_funds")
    except LaunchRefused as exc:
        return LaunchOutcome(None, refusal_text(t, lang, exc), reason=exc.reason)
    await send_progress(services, bot, gen, lang)
    return LaunchOutcome(gen)


async def send_progress(services: BotServices, bot: Bot, gen: Generation, lang: str) -> None:
    """The progress message, attached to the generation so the delivery can edit and remove it."""
    name = offer_name(services, gen, lang)
    text = progress.progress_text(services.t, lang, name, "queued", 0)
    chat = gen.chat_id or gen.user_id
    message = await bot.send_message(chat, text)
    if not await progress.attach(services.engine, gen.id, message.message_id):
        await progress.remove_message(bot, chat, message.message_id)  # the result beat us to it


def offer_name(services: BotServices, gen: Generation, lang: str) -> str:
    return services.catalog.get(gen.model_id).name.get(lang)
