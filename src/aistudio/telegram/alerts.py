"""Operator alerts to the admins' chats (Kie account out of credits, ...)."""

from __future__ import annotations

import logging

from aiogram import Bot

log = logging.getLogger(__name__)


class AdminAlerts:
    def __init__(self, bot: Bot, admin_ids: tuple[int, ...]) -> None:
        self.bot = bot
        self.admin_ids = admin_ids

    async def kie_out_of_credits(self, message: str) -> None:
        log.error("ALERT: Kie account cannot pay for tasks: %s", message)
        for admin in self.admin_ids:
            try:
                await self.bot.send_message(admin, f"⚠️ Kie: {message}")
            except Exception:  # an unreachable admin must not break the generation that raised the alert
                log.exception("could not alert admin %s", admin)
