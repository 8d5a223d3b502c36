"""Buttons under results and failures: 🔁 Repeat, ⚙️ Change settings, ➡️ Use this result in …, Retry.

Every button names a generation; it is acted on only for the user it belongs to.
"""

from __future__ import annotations

import time

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.catalog.validation import InputValidationError
from aistudio.db.repo.users import UserRow
from aistudio.generation.launch import LaunchRefused
from aistudio.generation.repo import Generation
from aistudio.telegram import result_keyboards
from aistudio.telegram.callbacks import GenCb
from aistudio.telegram.catalog_views import model_by_key
from aistudio.telegram.handlers.wizard import Panel, start_wizard, user_lock
from aistudio.telegram.launching import launch_offer
from aistudio.telegram.result_chain import chain_field, chained_values
from aistudio.telegram.services import BotServices

RELAUNCH_DEBOUNCE_S = 5.0  # a second tap on the same Repeat/Retry within this time is the same press
_recent_relaunches: dict[str, float] = {}  # request id of the source generation → when pressed


def first_press(gen: Generation) -> bool:
    """True for the first Repeat/Retry press of a generation in a short while (double taps launch once)."""
    now = time.monotonic()
    for key, at in list(_recent_relaunches.items()):
        if now - at > RELAUNCH_DEBOUNCE_S:
            del _recent_relaunches[key]
    if gen.request_id in _recent_relaunches:
        return False
    _recent_relaunches[gen.request_id] = now
    return True


def forget_recent_relaunches() -> None:
    """Start a new double-tap window for every result (tests that press faster than a person)."""
    _recent_relaunches.clear()


async def own_generation(
    query: CallbackQuery, gen_id: int, services: BotServices, user: UserRow, lang: str
) -> Generation | None:
    """The generation, if the pressing user owns it; otherwise the press is refused with an alert."""
    gen = await services.generations.get(gen_id)
    if gen is None or gen.user_id != user.id:
        await query.answer(services.t("results.not_yours", lang), show_alert=True)
        return None
    if gen.model_id not in services.catalog:
        await query.answer(services.t("catalog.stale", lang))
        return None
    return gen


async def on_generation_button(
    query: CallbackQuery, callback_data: GenCb, state: FSMContext, bot: Bot, services: BotServices,
    user: UserRow, lang: str,
) -> None:  # fmt: skip
    gen = await own_generation(query, callback_data.id, services, user, lang)
    if gen is None:
        return
    chat_id = query.message.chat.id if isinstance(query.message, Message) else user.id
    panel = Panel(bot, chat_id)
    model = services.catalog.get(gen.model_id)
    t = services.t
    action = callback_data.a
    if action in ("rep", "retry"):
        if not first_press(gen):
            await query.answer(t("wizard.already_launching", lang))
            return
        await query.answer(t("wizard.launching", lang))
        async with user_lock(user.id):
            await relaunch(services, state, bot, panel, user, lang, gen)
    elif action == "chg":
        await query.answer()
        await state.clear()
        await start_wizard(services, state, panel, user, lang, model, values=gen.inputs)
    elif action == "use":
        await query.answer()
        kind = result_keyboards.output_kind(services.catalog, gen)
        markup = result_keyboards.chain_keyboard(t, lang, gen, services.catalog)
        await bot.send_message(chat_id, t(f"results.use_title.{kind}", lang), reply_markup=markup)
    elif action == "to":
        await chain_into(query, state, panel, services, user, lang, gen, callback_data.m)
    else:
        await query.answer(t("catalog.stale", lang))


async def chain_into(
    query: CallbackQuery, state: FSMContext, panel: Panel, services: BotServices, user: UserRow, lang: str,
    gen: Generation, key: str,
) -> None:  # fmt: skip
    """Open the target model's wizard with this result as its input."""
    target = model_by_key(services.catalog, key)
    kind = result_keyboards.output_kind(services.catalog, gen)
    if target is None or chain_field(target, kind) is None or not gen.result_urls:
        await query.answer(services.t("catalog.stale", lang))
        return
    await query.answer()
    await state.clear()
    values = chained_values(target, kind, gen.result_urls[0])
    await start_wizard(services, state, panel, user, lang, target, values=values, source_id=gen.id)


async def relaunch(
    services: BotServices, state: FSMContext, bot: Bot, panel: Panel, user: UserRow, lang: str, gen: Generation
) -> None:
    """The same inputs again: launched at once when the price is what the user paid last time, otherwise
    (a new price, a refusal) shown as a summary to confirm."""
    t = services.t
    model = services.catalog.get(gen.model_id)
    notice = None
    try:
        offer = await services.generations.offer(gen.model_id, dict(gen.inputs))
    except (InputValidationError, LaunchRefused, ValueError, ArithmeticError):
        offer = None  # the summary explains what is wrong
    if offer is not None:
        same_terms = (offer.free and gen.is_free) or (not gen.is_free and offer.quote.kopecks == gen.price_kopecks)
        if same_terms:
            outcome = await launch_offer(
                services, bot, user_id=user.id, chat_id=panel.chat_id, lang=lang, offer=offer,
                pay_if_not_free=not gen.is_free,
            )  # fmt: skip
            if outcome.gen is not None:
                return
            # A spent free limit is explained by the summary itself, with the paid launch.
            notice = None if outcome.reason == "free_limit" else outcome.notice
        else:
            notice = t("wizard.price_changed", lang)
    await state.clear()
    await start_wizard(services, state, panel, user, lang, model, values=gen.inputs, notice=notice)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_generation_button, GenCb.filter())
    return router
