"""The Telegram admin panel (`/admin`, `/version`): one router per section, every observer IsAdmin-filtered.

Sections own their `AdminCb(s=...)`: menu, dash, users, gens, models, smoke, audit. Top-ups (`topups`) and
broadcasts (`bc`) are other features' routers; the admin menu only links to them.
"""

from __future__ import annotations

from aiogram import Router

from aistudio.telegram.handlers.admin import audit, dashboard, generations, menu, models, smoke, users
from aistudio.telegram.handlers.admin.common import admin_router


def build_router() -> Router:
    router = admin_router(__name__)
    for section in (menu, dashboard, users, generations, models, smoke, audit):
        router.include_router(section.build_router())
    return router
