"""Feature router: catalog (being built; see the user-journey issue)."""

from __future__ import annotations

from aiogram import Router


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    return Router(name=__name__)
