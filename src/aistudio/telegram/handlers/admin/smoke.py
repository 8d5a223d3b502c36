"""Smoke test: run one generation on each free model (or one chosen model) and report pass/fail and time.

It runs in the background (a real model can take minutes); the pressed message shows "running" and is
replaced by the report when every model has finished. One run at a time per process.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery

from aistudio.admin.smoke import SmokeResult, SmokeTester
from aistudio.catalog.models import ModelSpec
from aistudio.telegram.admin_views import common as views
from aistudio.telegram.admin_views.misc import smoke_menu_keyboard, smoke_report
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import admin_router
from aistudio.telegram.handlers.admin.models import spec_by_key
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


def free_models(services: BotServices) -> list[ModelSpec]:
    return [m for m in services.catalog if m.id in services.free_model_ids]


class SmokeRuns:
    """The run in progress (if any); holds the task so it is not garbage-collected mid-run."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, services: BotServices, models: list[ModelSpec], chat_id: int, message_id: int, lang: str) -> None:
        self.task = asyncio.create_task(_run(services, models, chat_id, message_id, lang), name="admin:smoke")


async def _run(services: BotServices, models: list[ModelSpec], chat_id: int, message_id: int, lang: str) -> None:
    pipeline = services.generations.pipeline
    tester = SmokeTester(pipeline.gateway, services.kie, pipeline.limiter)
    try:
        results = await tester.run(models)
    except Exception as exc:  # the report must arrive whatever happened
        log.exception("smoke test crashed")
        results = [SmokeResult(m.id, False, 0.0, f"crashed: {type(exc).__name__}") for m in models]
    await _show(services.bot, services, chat_id, message_id, smoke_report(services.t, lang, results), lang)


async def _show(bot: Bot, services: BotServices, chat_id: int, message_id: int, text: str, lang: str) -> None:
    markup = views.keyboard(views.back_row(services.t, lang))
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
    except TelegramAPIError:  # the message is gone or too old to edit: send the report instead
        await bot.send_message(chat_id, text, reply_markup=markup)


def build_router() -> Router:
    router = admin_router(__name__)
    runs = SmokeRuns()

    async def on_menu(query: CallbackQuery, services: BotServices, lang: str) -> None:
        await query.answer()
        t = services.t
        await show_screen(
            query, t("admin_panel.smoke.title", lang), smoke_menu_keyboard(t, lang, len(free_models(services)))
        )

    async def on_run(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
        t = services.t
        if callback_data.a == "free":
            models = free_models(services)
        else:
            spec = spec_by_key(services, callback_data.id)
            models = [spec] if spec is not None else []
        if not models:
            await query.answer(t("admin_panel.models.unknown", lang), show_alert=True)
            return
        if runs.busy:
            await query.answer(t("admin_panel.smoke.busy", lang), show_alert=True)
            return
        await query.answer()
        shown = await show_screen(query, t("admin_panel.smoke.running", lang, count=len(models)), None)
        if shown is not None:
            runs.start(services, models, shown.chat.id, shown.message_id, lang)

    router.callback_query.register(on_menu, AdminCb.filter((F.s == "smoke") & (F.a == "menu")))
    router.callback_query.register(on_run, AdminCb.filter((F.s == "smoke") & F.a.in_({"free", "run"})))
    return router
