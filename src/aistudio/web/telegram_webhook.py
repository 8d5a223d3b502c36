"""`POST /telegram/webhook`: Telegram's updates, each recorded before it is handled and handled before 200.

- Without the right `X-Telegram-Bot-Api-Secret-Token` header: 401, nothing read.
- The update is recorded by `update_id` first (`aistudio.ops.updates`); if the database cannot record it,
  503, and Telegram delivers it again later. A delivery of an update already handled: 200, ignored.
  One being handled right now (a concurrent re-delivery): 503, so Telegram comes back once it is done;
  if the process handling it died, a later delivery takes it over.
- Then the dispatcher handles it (`feed_update`, not aiogram's webhook handler, which answers first), and
  only then is 200 answered: an update Telegram saw acknowledged was handled.
- Once shutdown starts: 503 for new updates, while the ones in flight finish (`drain`).
- A payment that could not be recorded (`PaymentNotRecorded`): 503 and the update is left unmarked, so
  Telegram delivers it again (it is spooled on disk meanwhile, see `aistudio.telegram.payment_spool`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from aistudio.ops.metrics import Metrics
from aistudio.ops.updates import ProcessedUpdates, Verdict
from aistudio.payments.spool import PaymentNotRecorded

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookIntake:
    def __init__(
        self, dispatcher: Dispatcher, bot: Bot, updates: ProcessedUpdates, secret: str, metrics: Metrics | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.updates = updates
        self._secret = secret.encode()
        self.metrics = metrics
        self.accepting = True
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def inflight(self) -> int:
        return len(self._tasks)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.json_response({"ok": False, "error": "wrong secret token"}, status=401)
        if not self.accepting:
            return _retry_later("shutting down")
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except (ValueError, ValidationError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        try:
            verdict = await self.updates.begin(update.update_id)
        except Exception as exc:  # cannot record it: do not handle it; Telegram delivers it again
            log.warning("update %s not recorded (%r); asking Telegram to retry", update.update_id, exc)
            return _retry_later("storage unavailable")
        if verdict is Verdict.DUPLICATE:
            if self.metrics is not None:
                self.metrics.duplicate_updates.labels("webhook").inc()
            return web.json_response({"ok": True, "duplicate": True})
        if verdict is Verdict.IN_FLIGHT:
            return _retry_later("being handled")
        # The handling runs in a task of its own: a dropped connection or a server shutdown does not cut it
        # off half-way, and `drain` waits for it.
        task = asyncio.create_task(self._handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.metrics is not None:
            self.metrics.webhook_inflight.set(len(self._tasks))
        try:
            recorded = await asyncio.shield(task)
        finally:
            if self.metrics is not None:
                self.metrics.webhook_inflight.set(len(self._tasks))
        if not recorded:
            return _retry_later("payment not recorded")
        return web.json_response({"ok": True})

    async def _handle(self, update: Update) -> bool:
        """Handle and mark the update; False when a payment in it could not be recorded (left unmarked)."""
        ok = True
        try:
            result: Any = await self.dispatcher.feed_update(self.bot, update)
            if isinstance(result, TelegramMethod):
                await self.dispatcher.silent_call_request(self.bot, result)
        except PaymentNotRecorded:
            log.warning("update %s: payment not recorded; Telegram will deliver it again", update.update_id)
            return False
        except Exception:
            ok = False
            log.exception("update %s failed outside the error handler", update.update_id)
        try:
            await self.updates.finish(update.update_id, ok=ok)
        except Exception as exc:  # stays "received": a redelivery after the stale period handles it again
            log.warning("update %s handled but not marked (%r)", update.update_id, exc)
        return True

    async def drain(self, limit_s: float) -> bool:
        """Stop taking updates and wait up to `limit_s` for those in flight; True if all finished."""
        self.accepting = False
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(list(self._tasks), timeout=limit_s)
        if pending:
            log.warning("%d updates still being handled after %.0f s of shutdown", len(pending), limit_s)
        return not pending


def _retry_later(reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=503, headers={"Retry-After": "5"})


def add_webhook_route(app: web.Application, intake: WebhookIntake) -> None:
    app.router.add_post(WEBHOOK_PATH, intake.handle)
