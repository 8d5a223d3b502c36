"""What every admin sub-router shares: the IsAdmin filter on each observer, FSM states, text input."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.state import State, StatesGroup

from aistudio.telegram.admin_filter import IsAdmin

# A typed answer to an admin prompt; commands (/menu, /admin ...) pass through to their own handlers.
TYPED = F.text & ~F.text.startswith("/")


class AdminStates(StatesGroup):
    user_query = State()  # find a user
    adjust = State()  # "<amount> <reason>" for the user in data["target"]
    message = State()  # text to send to the user in data["target"]
    gen_query = State()  # find a generation by RQ id or id
    markup = State()  # a markup for the model in data["model_id"]


def admin_router(name: str) -> Router:
    """A fresh router whose every observer only lets admins through (others fall through to the fallback)."""
    router = Router(name=name)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    return router
