"""A payment update is never acknowledged unrecorded: spooled to disk first, replayed until recorded.

`PaymentSpoolMiddleware` is the dispatcher's FIRST outer middleware (before aiogram's error handler, the FSM,
the update gate and the user middleware, any of which may need a database or Redis that is down): for an
update whose message carries `successful_payment` or `refunded_payment` it writes the payment's essentials to
the spool (`aistudio.payments.spool`) and hands a `PaymentTicket` to the handler, which marks it recorded
(removing the file) once the database has the payment. If the update ends without that, the user is told the
payment is being recorded, the admins are alerted (in their language when the database can say it, else the
default), and `PaymentNotRecorded` is raised: the webhook answers 5xx without marking the update, so Telegram
delivers it again, and in polling mode `replay_spool` (a periodic job) records it from the file.

Announcements of a recorded payment (to the user, and to admins on a mismatch) live here too, shared by the
handlers and the replay.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import TelegramObject, Update

from aistudio.billing.queries import wallet_balance
from aistudio.db.tables import users
from aistudio.generation.repo import new_request_id
from aistudio.i18n import DEFAULT_LANGUAGE, pick_language
from aistudio.ops.jobs import PeriodicJob
from aistudio.payments import checkout
from aistudio.payments.refunds import RefundOutcome, apply_refunded_payment
from aistudio.payments.spool import PAID, REFUNDED, PaymentNotRecorded, PaymentSpool, SpooledPayment
from aistudio.pricing.price import format_rub
from aistudio.telegram import payment_views as views
from aistudio.telegram.keyboards import back_to_menu
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
TICKET_KEY = "payment_ticket"
REPLAY_AFTER_S = 20.0  # a younger spool file may still be in the hands of the update that wrote it
ADMIN_LANGUAGE_TIMEOUT_S = 2.0


@dataclass
class PaymentTicket:
    """The spooled payment an update carries; the handler marks it recorded once the database has it."""

    spool: PaymentSpool
    entry: SpooledPayment
    spooled: bool = False  # the file is on disk
    first: bool = True  # this delivery spooled it first (a redelivery does not alert again)
    recorded: bool = False

    async def mark_recorded(self) -> None:
        self.recorded = True
        if self.spooled:
            try:
                await self.spool.remove(self.entry)
            except OSError as exc:  # the replay finds it recorded and removes it then
                log.warning("payment spool: could not remove %s: %r", self.entry.charge_id, exc)


def spooled_from(update: Update) -> SpooledPayment | None:
    message = update.message
    if message is None or message.from_user is None:
        return None
    user = message.from_user
    if message.successful_payment is not None:
        paid = message.successful_payment
        return SpooledPayment(
            PAID, update.update_id, user.id, paid.telegram_payment_charge_id, paid.currency, paid.total_amount,
            paid.invoice_payload, paid.provider_payment_charge_id or "", user.language_code,
        )  # fmt: skip
    if message.refunded_payment is not None:
        refund = message.refunded_payment
        return SpooledPayment(
            REFUNDED, update.update_id, user.id, refund.telegram_payment_charge_id, refund.currency,
            refund.total_amount, refund.invoice_payload or "", refund.provider_payment_charge_id or "",
            user.language_code,
        )  # fmt: skip
    return None


def facts_of(entry: SpooledPayment) -> checkout.PaymentFacts:
    return checkout.PaymentFacts(
        user_id=entry.user_id, currency=entry.currency, total_amount=entry.total_amount, payload=entry.payload,
        charge_id=entry.charge_id, provider_charge_id=entry.provider_charge_id,
    )  # fmt: skip


class PaymentSpoolMiddleware(BaseMiddleware):
    def __init__(self, services: BotServices, spool: PaymentSpool) -> None:
        self.services = services
        self.spool = spool

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        entry = spooled_from(event) if isinstance(event, Update) else None
        if entry is None:
            return await handler(event, data)
        ticket = PaymentTicket(self.spool, entry)
        try:
            ticket.first = await self.spool.write(entry)
            ticket.spooled = True
        except Exception:  # still handled below; if recording fails too, Telegram must deliver it again
            log.critical("payment spool: could not write %s %s", entry.kind, entry.charge_id, exc_info=True)
        data[TICKET_KEY] = ticket
        try:
            result = await handler(event, data)
        except Exception as exc:
            if ticket.recorded:
                raise
            await self._not_recorded(ticket, data)
            raise PaymentNotRecorded(entry.charge_id) from exc
        if not ticket.recorded:
            await self._not_recorded(ticket, data)
            raise PaymentNotRecorded(entry.charge_id)
        return result

    async def _not_recorded(self, ticket: PaymentTicket, data: dict[str, Any]) -> None:
        entry, services = ticket.entry, self.services
        request_id = data.get("request_id") or new_request_id()
        log.error(
            "payment %s %s not recorded; spooled=%s [%s]", entry.kind, entry.charge_id, ticket.spooled, request_id
        )
        if not ticket.first:
            return  # a redelivery of one already spooled here: told once
        params = {**alert_params(facts_of(entry), request_id), "kind": entry.kind}
        await alert_admins(
            services, "payments.alert.spooled" if ticket.spooled else "payments.alert.spool_failed", **params
        )
        if entry.kind != PAID:
            return
        lang = data.get("lang") or pick_language(entry.language_code)
        if ticket.spooled:
            text = services.t("payments.paid.spooled", lang, amount=entry.total_amount, currency=entry.currency,
                              request_id=request_id)  # fmt: skip
        else:
            support = html.escape(services.settings.support_contact)
            text = services.t("payments.paid.failed", lang, request_id=request_id, support=support)
        try:
            await services.bot.send_message(entry.user_id, text)
        except Exception:
            log.exception("could not tell user %s their payment is being recorded", entry.user_id)


def install_payment_spool(dispatcher: Dispatcher, services: BotServices, spool: PaymentSpool) -> None:
    """Put the spool middleware first among the update's outer middlewares (before aiogram's own)."""
    manager = dispatcher.update.outer_middleware
    others = list(manager)
    for middleware in others:
        manager.unregister(middleware)
    manager.register(PaymentSpoolMiddleware(services, spool))
    for middleware in others:
        manager.register(middleware)


def spool_job(services: BotServices, spool: PaymentSpool) -> PeriodicJob:
    return PeriodicJob("payments.spool", 30.0, lambda: replay_spool(services, spool), first_delay_s=10.0)


async def replay_spool(services: BotServices, spool: PaymentSpool, *, older_than_s: float = REPLAY_AFTER_S) -> int:
    """Record what the spool holds (idempotent: the same checks and the same exactly-once credit as the
    handler); returns how many entries were recorded now."""
    recorded = 0
    for entry in await spool.pending(older_than_s=older_than_s):
        request_id = new_request_id()
        try:
            if entry.kind == PAID:
                result: Any = await checkout.accept_payment(services.engine, services.topups, facts_of(entry))
            else:
                result = await apply_refunded_payment(
                    services.engine, services.ledger, user_id=entry.user_id, charge_id=entry.charge_id
                )
        except Exception as exc:
            log.warning("payment spool: %s %s still not recorded: %r", entry.kind, entry.charge_id, exc)
            continue
        await spool.remove(entry)
        recorded += 1
        log.info("payment spool: %s %s recorded from the spool [%s]", entry.kind, entry.charge_id, request_id)
        try:
            lang = await user_language(services, entry.user_id, entry.language_code)
            if entry.kind == PAID:
                await announce_payment(services, entry.user_id, lang, facts_of(entry), result, request_id)
            else:
                await announce_refund(services, entry.user_id, lang, entry.charge_id, entry.total_amount, result)
        except Exception:
            log.exception("payment spool: could not announce %s %s", entry.kind, entry.charge_id)
    return recorded


async def user_language(services: BotServices, user_id: int, language_code: str | None) -> str:
    async with services.engine.connect() as conn:
        stored = (await conn.execute(sa.select(users.c.language).where(users.c.id == user_id))).scalar()
    return stored or pick_language(language_code)


# --- announcements --------------------------------------------------------------------------------------


def alert_params(facts: checkout.PaymentFacts, request_id: str) -> dict[str, object]:
    return {
        "user": facts.user_id,
        "amount": facts.total_amount,
        "currency": html.escape(facts.currency),
        "charge": html.escape(facts.charge_id),
        "payload": html.escape(facts.payload),
        "request_id": request_id,
    }


async def announce_payment(
    services: BotServices,
    chat_id: int,
    lang: str,
    facts: checkout.PaymentFacts,
    result: checkout.PaymentResult,
    request_id: str,
) -> None:
    """Tell the payer what became of a recorded payment (and the admins, once, of a mismatch)."""
    t, support = services.t, html.escape(services.settings.support_contact)
    if result.kind == "rejected":
        log.error("payment %s rejected (%s) [%s]", facts.charge_id, result.reason, request_id)
        if result.first_time:
            params = alert_params(facts, request_id)
            await alert_admins(services, "payments.alert.rejected", reason=result.reason, **params)
        text = t("payments.paid.rejected", lang, request_id=request_id, support=support)
        await services.bot.send_message(chat_id, text, reply_markup=back_to_menu(t, lang))
        return
    balance = await wallet_balance(services.engine, facts.user_id)
    key = "payments.paid.credited" if result.kind == "credited" else "payments.paid.duplicate"
    text = t(key, lang, rub=format_rub(result.amount_kopecks), balance=format_rub(balance.available))
    await services.bot.send_message(chat_id, text, reply_markup=views.paid_keyboard(t, lang))


async def announce_refund(
    services: BotServices, chat_id: int, lang: str, charge_id: str, stars: int, outcome: RefundOutcome
) -> None:
    """After Telegram's `refunded_payment`: the payer learns what was taken back; admins what was not."""
    t = services.t
    params = {
        "charge": html.escape(charge_id),
        "user": outcome.user_id or chat_id,
        "stars": stars,
        "rub": format_rub(outcome.total_kopecks),
        "available": format_rub(outcome.available_kopecks or 0),
    }
    if outcome.status == "short":
        await alert_admins(services, "payments.alert.refund_short", **params)
    elif outcome.status == "unknown":
        await alert_admins(services, "payments.alert.refund_unknown", **params)
    if outcome.status in ("debited", "already") and outcome.total_kopecks:
        balance = await wallet_balance(services.engine, chat_id)
        text = t("payments.refunded.debited", lang, **params, balance=format_rub(balance.available))
    else:
        text = t("payments.refunded.plain", lang, stars=stars)
    await services.bot.send_message(chat_id, text, reply_markup=back_to_menu(t, lang))


async def alert_admins(services: BotServices, key: str, **params: object) -> None:
    """Tell every admin, in their language when the database can say it (else the default language): an
    alert about a database outage must not need the database. An unreachable admin breaks nothing."""
    admin_ids = list(services.settings.admin_ids)
    if not admin_ids:
        return
    languages: dict[int, str] = {}
    try:
        async with asyncio.timeout(ADMIN_LANGUAGE_TIMEOUT_S):
            async with services.engine.connect() as conn:
                rows = await conn.execute(sa.select(users.c.id, users.c.language).where(users.c.id.in_(admin_ids)))
                languages = {row.id: row.language for row in rows}
    except Exception as exc:
        log.warning("admin languages unavailable (%r); alerting in %s", exc, DEFAULT_LANGUAGE)
    for admin_id in admin_ids:
        try:
            text = services.t(key, languages.get(admin_id) or DEFAULT_LANGUAGE, **params)
            await services.bot.send_message(admin_id, text)
        except Exception:
            log.exception("could not alert admin %s (%s)", admin_id, key)
