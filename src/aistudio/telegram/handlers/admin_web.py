"""/web: an admin gets a single-use link that signs them in to the web dashboard (see `aistudio.web.admin`).

The filter is on the router's message observer, so for anyone else `/web` is an ordinary unknown command.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from aistudio.db.sql import utcnow
from aistudio.telegram.admin_filter import IsAdmin
from aistudio.telegram.services import BotServices
from aistudio.web.admin.auth import issue_login_token, login_link
from aistudio.web.admin.site import admin_base_url


async def on_web(message: Message, services: BotServices, lang: str) -> None:
    assert message.from_user is not None  # IsAdmin let it through: there is a sender
    ttl = services.settings.admin_link_ttl_seconds
    token = await issue_login_token(services.engine, message.from_user.id, ttl_seconds=ttl, now=utcnow())
    link = login_link(admin_base_url(services), token)
    text = services.t("admin_web.link.sent", lang, minutes=max(1, ttl // 60), link=link)
    # The bot's default leaves link previews off: a preview fetch would otherwise spend the one-time link.
    await message.answer(text, parse_mode=None)


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(on_web, Command("web"))
    return router
