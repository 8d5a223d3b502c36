"""Placeholder while the feature is being built: a router with no handlers yet."""

from __future__ import annotations

from aiogram import Router


def build_router() -> Router:
    return Router(name=__name__)
