"""The global error handler: log with the request id, answer the user with it, offer the menu."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import ErrorEvent

from aistudio.db.rawsql import StorageUnavailable
from aistudio.i18n import pick_language
from aistudio.telegram.keyboards import back_to_menu
from aistudio.telegram.payment_spool import PaymentTicket
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)


async def on_error(
    event: ErrorEvent, services: BotServices, request_id: str | None = None, payment_ticket: PaymentTicket | None = None
) -> bool:
    if payment_ticket is not None and not payment_ticket.recorded:
        raise SkipHandler  # a payment not recorded: the spool middleware answers, and Telegram must redeliver
    rq = request_id or "RQ-????????"
    log.error("update %s failed [%s]: %r", event.update.update_id, rq, event.exception, exc_info=event.exception)
    update = event.update
    sender = (update.message and update.message.from_user) or (
        update.callback_query and update.callback_query.from_user
    )
    lang = pick_language(sender.language_code if sender else None)
    key = "common.db_unavailable" if isinstance(event.exception, StorageUnavailable) else "common.error"
    text = services.t(key, lang, request_id=rq)
    try:
        if update.callback_query:
            await update.callback_query.answer()
            if update.callback_query.message:
                await update.callback_query.message.answer(text, reply_markup=back_to_menu(services.t, lang))
        elif update.message:
            await update.message.answer(text, reply_markup=back_to_menu(services.t, lang))
    except Exception:  # answering may fail for the same reason the handler did; the log has it
        log.exception("could not tell the user about %s", rq)
    return True


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
