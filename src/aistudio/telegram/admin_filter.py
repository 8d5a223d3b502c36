"""Who may reach admin handlers: only users listed in ADMIN_IDS.

Admin routers apply `IsAdmin()` to every observer they use, so for anyone else an admin command or button
falls through to the ordinary answers (unknown command, stale button): an admin feature is never revealed.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject, User

from aistudio.telegram.services import BotServices


def is_admin(services: BotServices, user_id: int | None) -> bool:
    return user_id is not None and user_id in services.settings.admin_ids


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, services: BotServices, event_from_user: User | None = None) -> bool:
        return is_admin(services, event_from_user.id if event_from_user else None)
