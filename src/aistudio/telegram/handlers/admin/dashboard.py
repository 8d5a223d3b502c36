"""The dashboard: headline figures from `aistudio.admin.stats` and the Kie account's credit balance."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from aiogram import F, Router
from aiogram.types import CallbackQuery

from aistudio.admin import stats
from aistudio.db.sql import utcnow
from aistudio.kie.errors import KieError
from aistudio.telegram.admin_views.misc import dashboard_keyboard, dashboard_text
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)
KIE_BALANCE_TIMEOUT_S = 3.0


async def kie_balance(services: BotServices) -> Decimal | None:
    """The operator's Kie credits, or None when Kie doesn't answer quickly (the dashboard says so)."""
    try:
        return await asyncio.wait_for(services.kie.credit_balance(), KIE_BALANCE_TIMEOUT_S)
    except (KieError, TimeoutError) as exc:
        log.warning("Kie credit balance unavailable for the dashboard: %s", exc)
        return None


async def on_dashboard(query: CallbackQuery, services: BotServices, lang: str) -> None:
    now = utcnow()
    figures, balance = await asyncio.gather(
        stats.dashboard(services.engine, now=now, settings=services.settings), kie_balance(services)
    )
    await query.answer()
    t = services.t
    await show_screen(query, dashboard_text(t, lang, figures, now, balance), dashboard_keyboard(t, lang))


def build_router() -> Router:
    router = admin_router(__name__)
    router.callback_query.register(on_dashboard, AdminCb.filter(F.s == "dash"))
    return router
