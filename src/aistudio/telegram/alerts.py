"""Operator alerts to the admins' chats, each in the admin's language: the Kie account out of credits
(402, at most once per 30 minutes), its balance low or recovered, a model failing a lot.

With an engine the alerts are de-duplicated through `alert_state` (shared by every replica); without one
(unit tests of the pipeline) every call alerts.
"""

from __future__ import annotations

import html
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.repo.users import get_user
from aistudio.i18n import Translator, translator
from aistudio.ops.monitoring import AlertStates

log = logging.getLogger(__name__)

OUT_OF_CREDITS_KEY = "kie:402"


class AdminAlerts:
    def __init__(
        self,
        bot: Bot,
        admin_ids: tuple[int, ...],
        *,
        engine: AsyncEngine | None = None,
        t: Translator | None = None,
        out_of_credits_every: timedelta = timedelta(minutes=30),
    ) -> None:
        self.bot = bot
        self.admin_ids = admin_ids
        self.engine = engine
        self.t = t or translator()
        self.states = AlertStates(engine) if engine is not None else None
        self.out_of_credits_every = out_of_credits_every

    async def _language(self, admin_id: int) -> str:
        if self.engine is None:
            return "ru"
        try:
            async with self.engine.connect() as conn:
                user = await get_user(conn, admin_id)
        except Exception:  # the alert matters more than its language
            return "ru"
        return user.language if user else "ru"

    async def notify(self, key: str, **params: Any) -> int:
        """Send the text `key` to every admin; returns how many got it."""
        sent = 0
        for admin in self.admin_ids:
            try:
                await self.bot.send_message(admin, self.t(key, await self._language(admin), **params))
                sent += 1
            except Exception:  # an unreachable admin must not break the work that raised the alert
                log.exception("could not alert admin %s", admin)
        return sent

    async def kie_out_of_credits(self, message: str) -> None:
        log.error("ALERT: Kie account cannot pay for tasks: %s", message)
        if self.states is not None and not await self.states.cooldown_passed(
            OUT_OF_CREDITS_KEY, self.out_of_credits_every
        ):
            return
        await self.notify("admin_mon.kie_402", message=html.escape(message))

    async def kie_balance_low(self, balance: Decimal, threshold: Decimal) -> None:
        log.error("ALERT: Kie balance %s is below %s credits", balance, threshold)
        await self.notify("admin_mon.balance_low", balance=_credits(balance), threshold=_credits(threshold))

    async def kie_balance_recovered(self, balance: Decimal) -> None:
        log.warning("Kie balance recovered: %s credits", balance)
        await self.notify("admin_mon.balance_ok", balance=_credits(balance))

    async def model_failing(self, model_id: str, failed: int, finished: int) -> None:
        percent = round(100 * failed / finished) if finished else 0
        log.error("ALERT: model %s failed %d of %d generations in the last hour", model_id, failed, finished)
        await self.notify(
            "admin_mon.model_failing", model=html.escape(model_id), failed=failed, finished=finished, percent=percent
        )


def _credits(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:.2f}"
