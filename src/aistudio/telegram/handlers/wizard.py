"""The wizard: a model's inputs one by one, ⚙️ Settings, the summary with the exact price, and 🚀 Launch."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.db.repo.users import UserRow
from aistudio.telegram import catalog_views
from aistudio.telegram import wizard_views as views
from aistudio.telegram.callbacks import StartCb, WizCb
from aistudio.telegram.journey_states import CatalogStates, WizardStates
from aistudio.telegram.keyboards import main_menu
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices
from aistudio.telegram.wizard_flow import (
    WizardData,
    check_value,
    choices,
    current_field,
    next_open_step,
    setting_fields,
    wizard_fields,
)
from aistudio.telegram.wizard_launch import launch_from_summary, render_summary
from aistudio.telegram.wizard_media import (
    FileTooBig,
    UploadFailed,
    WrongFileKind,
    fetch_and_upload,
    incoming_file,
)

WIZARD_STATES = (WizardStates.step, WizardStates.setting, WizardStates.summary, WizardStates.launching)
_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def user_lock(user_id: int) -> asyncio.Lock:
    """One wizard action at a time per user in this process (album photos, double taps)."""
    lock = _locks.get(user_id)
    if lock is None:
        lock = asyncio.Lock()
        _locks[user_id] = lock
    return lock


class Panel:
    """Where the next screen goes: the pressed message (edited), or a new message after the user's own."""

    def __init__(self, bot: Bot, chat_id: int, query: CallbackQuery | None = None) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.query = query

    async def show(self, state: FSMContext, wizard: WizardData, screen: views.Screen) -> None:
        text, markup = screen
        if self.query is not None:
            shown = await show_screen(self.query, text, markup)
            wizard.panel = shown.message_id if shown else wizard.panel
        else:
            if wizard.panel:  # the previous screen's buttons would act on this one: take them away
                with contextlib.suppress(TelegramBadRequest):
                    await self.bot.edit_message_reply_markup(chat_id=self.chat_id, message_id=wizard.panel)
            sent = await self.bot.send_message(self.chat_id, text, reply_markup=markup)
            wizard.panel = sent.message_id
        await state.update_data(wizard.dump())


async def go_to_step_or_summary(
    services: BotServices, state: FSMContext, panel: Panel, user: UserRow, lang: str, wizard: WizardData,
    model: ModelSpec, *, error: list[str] | None = None, notice: str | None = None,
) -> None:  # fmt: skip
    """Show the step `wizard.step` asks for, or the summary once every step is answered."""
    wizard.edit = None
    wizard.options_page = 0 if error is None else wizard.options_page
    if wizard.step < len(wizard_fields(model)):
        await state.set_state(WizardStates.step)
        await panel.show(state, wizard, views.step_screen(services.t, lang, model, wizard, error))
        return
    screen = await render_summary(services, user, lang, model, wizard, notice)
    await state.set_state(WizardStates.summary)
    await panel.show(state, wizard, screen)


async def start_wizard(
    services: BotServices, state: FSMContext, panel: Panel, user: UserRow, lang: str, model: ModelSpec,
    *, values: dict[str, Any] | None = None, source_id: int | None = None, sec: str = "", page: int = 0,
    notice: str | None = None,
) -> None:  # fmt: skip
    """Open a model's wizard at its first unanswered step (prefilled values come from a result or a repeat)."""
    wizard = WizardData(model.id, dict(values or {}), source_id=source_id, sec=sec, page=page)
    wizard.step = next_open_step(model, wizard.values)
    await state.set_data({})
    await go_to_step_or_summary(services, state, panel, user, lang, wizard, model, notice=notice)


async def on_start(
    query: CallbackQuery, callback_data: StartCb, state: FSMContext, bot: Bot, services: BotServices,
    user: UserRow, lang: str,
) -> None:  # fmt: skip
    model = catalog_views.model_by_key(services.catalog, callback_data.m)
    if model is None or query.message is None:
        await query.answer(services.t("catalog.stale", lang))
        return
    await query.answer()
    panel = Panel(bot, query.message.chat.id, query)
    await start_wizard(services, state, panel, user, lang, model, sec=callback_data.sec, page=callback_data.page)


async def loaded(state: FSMContext, services: BotServices) -> tuple[WizardData, ModelSpec] | None:
    wizard = WizardData.load(await state.get_data())
    if wizard is None or wizard.model_id not in services.catalog:
        return None
    model = services.catalog.get(wizard.model_id)
    return (wizard, model) if model.enabled and not model.hidden else None


async def on_action(
    query: CallbackQuery, callback_data: WizCb, state: FSMContext, bot: Bot, services: BotServices,
    user: UserRow, lang: str,
) -> None:  # fmt: skip
    t = services.t
    found = await loaded(state, services)
    current = await state.get_state()
    pressed = query.message.message_id if query.message else None
    if callback_data.a == "cancel":
        await query.answer()
        await state.clear()
        await show_screen(query, views.cancelled_text(t, lang), main_menu(t, lang))
        return
    going = found is not None and current in {s.state for s in WIZARD_STATES}
    if not going or pressed != found[0].panel:
        await query.answer(t("wizard.stale", lang))
        await retire_stale(query, services, lang, wizard_going=going)
        return
    wizard, model = found
    panel = Panel(bot, query.message.chat.id if query.message else user.id, query)
    if callback_data.a in ("go", "paid"):
        await launch_from_summary(query, state, bot, services, user, lang, wizard, model, user_lock(user.id),
                                  pay=callback_data.a == "paid")  # fmt: skip
        return
    if current == WizardStates.launching.state:
        await query.answer(t("wizard.already_launching", lang))
        return
    await query.answer()
    async with user_lock(user.id):
        await act(callback_data, state, panel, services, user, lang, wizard, model)


async def retire_stale(query: CallbackQuery, services: BotServices, lang: str, *, wizard_going: bool) -> None:
    """An old wizard screen loses its buttons while the wizard goes on elsewhere; with no wizard, the menu."""
    if not isinstance(query.message, Message):
        return
    if wizard_going:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        return
    await query.message.answer(services.t("menu.title", lang), reply_markup=main_menu(services.t, lang))


async def act(
    cb: WizCb, state: FSMContext, panel: Panel, services: BotServices, user: UserRow, lang: str,
    wizard: WizardData, model: ModelSpec,
) -> None:  # fmt: skip
    """Every wizard button except Launch and Cancel."""
    t = services.t
    f = current_field(model, wizard)
    if cb.a == "val" and f is not None:
        options = choices(f) or []
        if 0 <= cb.i < len(options):
            wizard.values[f.name] = options[cb.i]
            await after_answer(services, state, panel, user, lang, wizard, model)
    elif cb.a == "opg" and f is not None:
        wizard.options_page = cb.i
        await show_field(services, state, panel, lang, wizard, model)
    elif cb.a in ("done", "skip") and f is not None:
        if cb.a == "skip":
            wizard.values.pop(f.name, None)
        await after_answer(services, state, panel, user, lang, wizard, model, finished=True)
    elif cb.a == "back":
        await go_back(services, state, panel, user, lang, wizard, model)
    elif cb.a == "set" and setting_fields(model):
        wizard.edit = None
        await state.set_state(WizardStates.setting)
        await panel.show(state, wizard, views.settings_screen(t, lang, model, wizard))
    elif cb.a == "fld" and 0 <= cb.i < len(setting_fields(model)):
        wizard.edit, wizard.options_page = setting_fields(model)[cb.i].name, 0
        await state.set_state(WizardStates.setting)
        await panel.show(state, wizard, views.setting_screen(t, lang, model, wizard))
    elif cb.a == "clr" and f is not None:
        wizard.values.pop(f.name, None)
        await after_answer(services, state, panel, user, lang, wizard, model, finished=True)
    elif cb.a == "sum":
        wizard.step = len(wizard_fields(model))
        await go_to_step_or_summary(services, state, panel, user, lang, wizard, model)


async def show_field(
    services: BotServices, state: FSMContext, panel: Panel, lang: str, wizard: WizardData, model: ModelSpec,
    error: list[str] | None = None,
) -> None:  # fmt: skip
    """The current step or setting again (next options page, an error, one more file)."""
    t = services.t
    if wizard.edit is not None:
        await panel.show(state, wizard, views.setting_screen(t, lang, model, wizard, error))
    else:
        await panel.show(state, wizard, views.step_screen(t, lang, model, wizard, error))


async def after_answer(
    services: BotServices, state: FSMContext, panel: Panel, user: UserRow, lang: str, wizard: WizardData,
    model: ModelSpec, *, finished: bool = True,
) -> None:  # fmt: skip
    """A field got its value: the next step (or summary), or back to the settings list."""
    if not finished:
        await show_field(services, state, panel, lang, wizard, model)
    elif wizard.edit is not None:
        wizard.edit = None
        await panel.show(state, wizard, views.settings_screen(services.t, lang, model, wizard))
    else:
        wizard.step = next_open_step(model, wizard.values, wizard.step + 1)
        await go_to_step_or_summary(services, state, panel, user, lang, wizard, model)


async def go_back(
    services: BotServices, state: FSMContext, panel: Panel, user: UserRow, lang: str, wizard: WizardData,
    model: ModelSpec,
) -> None:  # fmt: skip
    """One step back; from the first step, the model card."""
    steps = len(wizard_fields(model))
    wizard.step = min(wizard.step, steps) - 1
    if wizard.step >= 0:
        await go_to_step_or_summary(services, state, panel, user, lang, wizard, model)
        return
    await state.set_state(CatalogStates.browsing)
    await state.set_data({"query": ""})
    if panel.query is not None:
        prices = await catalog_views.default_prices(services, [model])
        t = services.t
        text = catalog_views.card_text(t, lang, model, prices.get(model.id), services.free_model_ids)
        await show_screen(panel.query, text, catalog_views.card_keyboard(t, lang, model, wizard.sec, wizard.page))


async def on_input(
    message: Message, state: FSMContext, bot: Bot, services: BotServices, user: UserRow, lang: str
) -> None:
    """A text or a file sent at a step or while changing a setting."""
    found = await loaded(state, services)
    if found is None:
        await state.clear()
        await message.answer(services.t("wizard.stale", lang), reply_markup=main_menu(services.t, lang))
        return
    wizard, model = found
    f = current_field(model, wizard)
    if f is None:
        return
    panel = Panel(bot, message.chat.id)
    async with user_lock(user.id):
        wizard = WizardData.load(await state.get_data()) or wizard  # an album's earlier photo may have landed
        problems = await take_input(message, bot, services, user, lang, wizard, model, f)
        if problems:
            await show_field(services, state, panel, lang, wizard, model, problems)
            return
        await after_answer(services, state, panel, user, lang, wizard, model, finished=not f.is_multi or not f.media)


async def take_input(
    message: Message, bot: Bot, services: BotServices, user: UserRow, lang: str, wizard: WizardData,
    model: ModelSpec, f: InputField,
) -> list[str]:  # fmt: skip
    """Store the message as the field's value; returns what is wrong with it instead."""
    t = services.t
    if f.media:
        return await take_file(message, bot, services, user, lang, wizard, f)
    if message.text is None:
        return [t("wizard.error.need_text", lang)]
    value, problems = check_value(model, f, message.text, t, lang)
    if not problems:
        wizard.values[f.name] = value
    return problems


async def take_file(
    message: Message, bot: Bot, services: BotServices, user: UserRow, lang: str, wizard: WizardData, f: InputField
) -> list[str]:
    t = services.t
    kind = f.media or "image"
    wrong = [t(f"wizard.error.need_{kind}", lang)]
    try:
        incoming = incoming_file(message, kind)
        if incoming is None:
            return wrong
        existing = wizard.values.get(f.name) or []
        if f.is_multi and len(existing) >= (f.max_items or 10):
            return [t("wizard.error.too_many_files", lang, limit=f.max_items or 10)]
        await bot.send_chat_action(message.chat.id, "typing")
        url = await fetch_and_upload(bot, services.kie, incoming, kind, user.id)
    except WrongFileKind:
        return wrong
    except FileTooBig:
        return [t("wizard.error.too_big", lang)]
    except UploadFailed:
        return [t("wizard.error.upload_failed", lang)]
    wizard.values[f.name] = [*existing, url] if f.is_multi else url
    return []


async def on_summary_text(message: Message, services: BotServices, lang: str) -> None:
    await message.answer(services.t("wizard.use_buttons", lang))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_start, StartCb.filter())
    router.callback_query.register(on_action, WizCb.filter())
    not_command = ~(F.text.startswith("/"))
    router.message.register(on_input, WizardStates.step, not_command)
    router.message.register(on_input, WizardStates.setting, not_command)
    router.message.register(on_summary_text, WizardStates.summary, F.text, not_command)
    router.message.register(on_summary_text, WizardStates.launching, F.text, not_command)
    return router
