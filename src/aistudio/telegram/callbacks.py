"""Callback data factories (≤ 64 bytes each). Every prefix has exactly one router handling it."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="m"):
    """Main menu navigation: `to` is a menu item (see keyboards.MAIN_MENU_ITEMS) or "main"."""

    to: str


class LangCb(CallbackData, prefix="lang"):
    code: str


# --- the user journey: catalog, model card, wizard, results ---------------------------------------------
# Models are named by `model_key` (8 hex characters of a hash of the id): stable across restarts and
# replicas, short enough for 64 bytes, and an unknown key (a model removed since) reads as a stale button.


class HomeCb(CallbackData, prefix="home"):
    """Leave whatever flow the user is in (clears the FSM state) and show the main menu."""


class ListCb(CallbackData, prefix="ls"):
    """A page of a model list: `sec` is a menu item (video, images, ...), a category, "free" or "q" (search)."""

    sec: str
    page: int = 0


class ModelCb(CallbackData, prefix="md"):
    """A model card, remembering the list page it was opened from (for Back)."""

    m: str
    sec: str = ""
    page: int = 0


class StartCb(CallbackData, prefix="go"):
    """Start the wizard of a model (from its card, which was opened from a list page)."""

    m: str
    sec: str = ""
    page: int = 0


class WizCb(CallbackData, prefix="wz"):
    """A wizard action; `i` indexes an option or a field kept in the FSM data, never a value itself."""

    a: str
    i: int = 0


class GenCb(CallbackData, prefix="g"):
    """An action on one generation (repeat, change settings, use the result in a model, retry).

    Handlers check that the generation belongs to the user pressing the button.
    """

    a: str
    id: int
    m: str = ""


# --- admin tools ----------------------------------------------------------------------------------------
# One prefix for the whole admin panel; `s` (section) routes to the feature that owns it:
# dash, users, gens, models, smoke, audit (admin panel); topups (manual transfers); pay (payments, refunds);
# promo (promo codes); bc (broadcasts); mon (monitoring). Admin routers filter on IsAdmin first.


class AdminCb(CallbackData, prefix="adm"):
    s: str
    a: str = ""
    id: str = ""
    p: int = 0
