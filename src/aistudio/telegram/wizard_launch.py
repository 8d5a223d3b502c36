"""The summary screen's data and 🚀 Launch: one generation per press, whatever the user's thumb does.

A press moves the FSM from `summary` to `launching` under a per-user lock (a second press finds `launching`
and is told to wait), takes the buttons off the summary, re-prices, and launches only when the price is the
one the summary showed. A refusal brings back a fresh summary with the reason on top.

The lock and the FSM check hold within one process; replicas sharing the FSM storage could both see
`summary`. So the wizard's launch carries a request id made with its first summary, and the database
launches one generation per request id: a press on another replica finds it launched and steps aside.
"""

from __future__ import annotations

import asyncio
import html
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.catalog.models import ModelSpec
from aistudio.catalog.validation import InputValidationError
from aistudio.db.repo.users import UserRow
from aistudio.generation.launch import LaunchRefused, Offer
from aistudio.generation.repo import new_request_id
from aistudio.telegram.journey_states import WizardStates
from aistudio.telegram.launching import launch_offer
from aistudio.telegram.services import BotServices
from aistudio.telegram.wizard_flow import WizardData
from aistudio.telegram.wizard_summary import gather, summary_screen
from aistudio.telegram.wizard_views import Screen

log = logging.getLogger(__name__)


async def render_summary(
    services: BotServices, user: UserRow, lang: str, model: ModelSpec, wizard: WizardData, notice: str | None = None
) -> Screen:
    """The summary, remembering the price shown (Launch charges exactly that or asks again)."""
    facts = await gather(services, user.id, wizard, lang)
    wizard.step = max(wizard.step, 0)
    wizard.request_id = wizard.request_id or new_request_id()
    wizard.shown_price = facts.price if facts.offer is not None else None
    wizard.shown_free = facts.free_now
    return summary_screen(services.t, lang, model, wizard, facts, notice)


async def launch_from_summary(
    query: CallbackQuery, state: FSMContext, bot: Bot, services: BotServices, user: UserRow, lang: str,
    wizard: WizardData, model: ModelSpec, lock: asyncio.Lock, *, pay: bool,
) -> None:  # fmt: skip
    t = services.t
    async with lock:
        if await state.get_state() != WizardStates.summary.state:
            await query.answer(t("wizard.already_launching", lang))
            return
        await state.set_state(WizardStates.launching)
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat.id if message else user.id
    try:
        # The answer, the buttons coming off and the price check overlap; all three end before the launch.
        _, _, (offer, notice) = await asyncio.gather(
            answer(query, t("wizard.launching", lang)), take_buttons_off(message), price(services, wizard, lang, pay)
        )
        if offer is not None:
            outcome = await launch_offer(
                services, bot, user_id=user.id, chat_id=chat_id, lang=lang, offer=offer,
                source_id=wizard.source_id, pay_if_not_free=pay, request_id=wizard.request_id,
            )  # fmt: skip
            # A spent free limit needs no notice: the fresh summary explains it and offers the paid launch.
            notice = None if outcome.reason == "free_limit" else outcome.notice
            if outcome.gen is not None or outcome.reason == "already_launched":
                await state.clear()  # launched here, or by the same wizard's press on another replica
                return
    except BaseException:
        await state.set_state(WizardStates.summary)  # never leave the user stuck in "launching"
        raise
    # Refused: a fresh summary (new price, balance, limits) with the reason on top.
    screen = await render_summary(services, user, lang, model, wizard, notice)
    sent = await bot.send_message(chat_id, screen[0], reply_markup=screen[1])
    wizard.panel = sent.message_id
    await state.update_data(wizard.dump())
    await state.set_state(WizardStates.summary)


async def answer(query: CallbackQuery, text: str) -> None:
    await query.answer(text)


async def take_buttons_off(message: Message | None) -> None:
    """The summary loses its buttons before anything is launched: a second tap has nothing to press."""
    if message is None:
        return
    try:
        await message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest as exc:
        log.info("could not take the buttons off summary %s: %s", message.message_id, exc)


async def price(services: BotServices, wizard: WizardData, lang: str, pay: bool) -> tuple[Offer | None, str | None]:
    """The offer to launch, or why not: invalid now, unavailable, or not the price the summary showed."""
    t = services.t
    try:
        offer = await services.generations.offer(wizard.model_id, dict(wizard.values))
    except InputValidationError as exc:
        return None, "\n".join("❗ " + html.escape(m) for m in exc.messages(lang))
    except LaunchRefused:
        return None, t("wizard.refused.model_unavailable", lang)
    except (ValueError, ArithmeticError):
        return None, t("wizard.no_price", lang)
    expected_free = wizard.shown_free and not pay
    if not expected_free and offer.quote.kopecks != wizard.shown_price:
        return None, t("wizard.price_changed", lang)
    return offer, None
