"""The audit log, newest first, for everything or one target (a user's card links here)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from aistudio.admin.audit import recent
from aistudio.telegram.admin_views.common import target_of
from aistudio.telegram.admin_views.misc import AUDIT_PAGE, audit_keyboard, audit_text
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.handlers.admin.common import admin_router
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


async def on_audit(query: CallbackQuery, callback_data: AdminCb, services: BotServices, lang: str) -> None:
    page, target = max(0, callback_data.p), target_of(callback_data.id)
    entries = await recent(services.engine, limit=AUDIT_PAGE + 1, offset=page * AUDIT_PAGE, target=target or None)
    await query.answer()
    t = services.t
    await show_screen(
        query,
        audit_text(t, lang, entries[:AUDIT_PAGE], page, target),
        audit_keyboard(t, lang, page, len(entries) > AUDIT_PAGE, target),
    )


def build_router() -> Router:
    router = admin_router(__name__)
    router.callback_query.register(on_audit, AdminCb.filter((F.s == "audit") & (F.a == "list")))
    return router
