"""Paying: Stars and card (YooKassa) packs, custom amounts, invoices, pre-checkout, successful payments,
refunds (Telegram's `refunded_payment`, an admin's /refund), /paysupport and /terms.

The money rules live in `aistudio.payments` (checkout, refunds); this module parses updates and answers.
"""

from __future__ import annotations

import asyncio
import html
import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery

from aistudio.db.repo.users import UserRow
from aistudio.i18n import DEFAULT_LANGUAGE
from aistudio.payments import checkout
from aistudio.payments.invoices import create_invoice
from aistudio.payments.packs import (
    STARS,
    YOOKASSA,
    AmountError,
    Pack,
    offered_pack,
    parse_custom_amount,
    rub_limits,
    rub_pack,
    stars_limits,
    stars_pack,
    yookassa_enabled,
)
from aistudio.payments.refunds import apply_refunded_payment, preview_refund, refund_star_payment
from aistudio.payments.spool import PaymentNotRecorded
from aistudio.telegram import payment_views as views
from aistudio.telegram.admin_filter import IsAdmin
from aistudio.telegram.handlers.balance import render_topup
from aistudio.telegram.keyboards import back_to_menu
from aistudio.telegram.payment_spool import (
    PaymentTicket,
    alert_admins,
    alert_params,
    announce_payment,
    announce_refund,
)
from aistudio.telegram.payment_views import PayCb, PayStates
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices

log = logging.getLogger(__name__)
CREDIT_ATTEMPTS = 3  # a successful payment is retried this many times before it is left to the spool
RETRY_DELAY_S = 0.5


# --- choosing what to pay -----------------------------------------------------------------------------


async def on_back_to_topup(
    query: CallbackQuery, services: BotServices, user: UserRow, lang: str, state: FSMContext
) -> None:
    await state.clear()
    await query.answer()
    await show_screen(query, *await render_topup(services, user.id, lang))


async def on_pack(
    query: CallbackQuery, callback_data: PayCb, services: BotServices, user: UserRow, lang: str, state: FSMContext
) -> None:
    provider = STARS if callback_data.a == "s" else YOOKASSA
    pack = offered_pack(services.settings, provider, callback_data.n)
    if pack is None:  # a button from before the operator changed the packs
        await query.answer(services.t("payments.invoice.stale_pack", lang))
        await show_screen(query, *await render_topup(services, user.id, lang))
        return
    await state.clear()
    await query.answer()
    await send_invoice(services, user.id, lang, pack)


async def on_custom(
    query: CallbackQuery, callback_data: PayCb, services: BotServices, lang: str, state: FSMContext
) -> None:
    provider = STARS if callback_data.a == "sc" else YOOKASSA
    if provider == YOOKASSA and not yookassa_enabled(services.settings):
        await query.answer(services.t("payments.invoice.card_off", lang))
        return
    await state.set_state(PayStates.stars_amount if provider == STARS else PayStates.rub_amount)
    await query.answer()
    t = services.t
    await show_screen(query, views.custom_prompt(t, lang, services.settings, provider), views.prompt_keyboard(t, lang))


async def on_card(query: CallbackQuery, services: BotServices, user: UserRow, lang: str, state: FSMContext) -> None:
    await state.clear()
    if not yookassa_enabled(services.settings):
        await query.answer(services.t("payments.invoice.card_off", lang))
        await show_screen(query, *await render_topup(services, user.id, lang))
        return
    await query.answer()
    t, settings = services.t, services.settings
    await show_screen(query, views.card_text(t, lang, settings), views.card_keyboard(t, lang, settings))


async def on_amount_typed(message: Message, services: BotServices, user: UserRow, lang: str, state: FSMContext) -> None:
    settings, t = services.settings, services.t
    stars = await state.get_state() == PayStates.stars_amount.state
    if not stars and not yookassa_enabled(settings):
        await state.clear()
        await message.answer(t("payments.invoice.card_off", lang), reply_markup=back_to_menu(t, lang))
        return
    low, high = stars_limits(settings) if stars else rub_limits(settings)
    try:
        amount = parse_custom_amount(message.text or "", low, high)
    except AmountError as exc:
        await message.answer(
            t(f"payments.custom.{exc.reason}", lang, min=exc.low, max=exc.high),
            reply_markup=views.prompt_keyboard(t, lang),
        )
        return
    await state.clear()
    pack = stars_pack(settings, amount, custom=True) if stars else rub_pack(settings, amount, custom=True)
    await send_invoice(services, user.id, lang, pack)


async def send_invoice(services: BotServices, user_id: int, lang: str, pack: Pack) -> None:
    """Record the invoice, then send it: Stars (XTR, no provider token) or roubles through YooKassa."""
    settings, t = services.settings, services.t
    invoice = await create_invoice(services.engine, user_id, pack, ttl_seconds=settings.invoice_ttl_seconds)
    title, description, label = views.invoice_texts(t, lang, pack, settings.invoice_ttl_seconds)
    extra: dict[str, object] = {}
    if pack.provider == YOOKASSA:
        assert settings.yookassa_provider_token is not None
        extra["provider_token"] = settings.yookassa_provider_token.get_secret_value()
        if settings.yookassa_receipt_required:
            extra.update(
                need_email=True,
                send_email_to_provider=True,
                provider_data=views.receipt_provider_data(settings, label, pack),
            )
    await services.bot.send_invoice(
        chat_id=user_id,
        title=title,
        description=description,
        payload=invoice.payload,
        currency=pack.currency,
        prices=views.invoice_prices(label, pack),
        reply_markup=views.invoice_keyboard(t, lang, pack),
        **extra,  # type: ignore[arg-type]
    )


# --- Telegram asks and tells --------------------------------------------------------------------------


async def on_pre_checkout(
    query: PreCheckoutQuery, services: BotServices, request_id: str, lang: str | None = None
) -> None:
    """Accept only an open, unexpired invoice of this user with the same currency and total, priced as today."""
    lang = lang or DEFAULT_LANGUAGE
    try:
        reason = await checkout.check_pre_checkout(
            services.engine,
            services.settings,
            payload=query.invoice_payload,
            user_id=query.from_user.id,
            currency=query.currency,
            total_amount=query.total_amount,
        )
    except Exception:  # Telegram needs an answer either way; a refusal costs the user nothing
        log.exception("pre-checkout %s failed [%s]", query.id, request_id)
        await query.answer(ok=False, error_message=services.t("payments.reject.error", lang, request_id=request_id))
        return
    if reason is None:
        await query.answer(ok=True)
    else:
        log.info("pre-checkout %s refused: %s [%s]", query.id, reason, request_id)
        await query.answer(ok=False, error_message=services.t(f"payments.reject.{reason}", lang))


async def on_successful_payment(
    message: Message, services: BotServices, lang: str, request_id: str, payment_ticket: PaymentTicket | None = None
) -> None:
    paid = message.successful_payment
    assert paid is not None and message.from_user is not None
    facts = checkout.PaymentFacts(
        user_id=message.from_user.id,
        currency=paid.currency,
        total_amount=paid.total_amount,
        payload=paid.invoice_payload,
        charge_id=paid.telegram_payment_charge_id,
        provider_charge_id=paid.provider_payment_charge_id or "",
    )
    result = await _accept_with_retries(services, facts, request_id)
    if result is None:
        if payment_ticket is not None:  # spooled: the spool middleware tells the user and the admins
            raise PaymentNotRecorded(facts.charge_id)
        t, support = services.t, html.escape(services.settings.support_contact)
        await alert_admins(services, "payments.alert.failed", **alert_params(facts, request_id))
        await message.answer(t("payments.paid.failed", lang, request_id=request_id, support=support))
        return
    if payment_ticket is not None:
        await payment_ticket.mark_recorded()
    await announce_payment(services, message.chat.id, lang, facts, result, request_id)


async def _accept_with_retries(
    services: BotServices, facts: checkout.PaymentFacts, request_id: str
) -> checkout.PaymentResult | None:
    """The money has arrived: try hard to record it (the database may blink); None when it could not be."""
    for attempt in range(1, CREDIT_ATTEMPTS + 1):
        try:
            return await checkout.accept_payment(services.engine, services.topups, facts)
        except Exception:
            log.exception("crediting payment %s failed (attempt %d) [%s]", facts.charge_id, attempt, request_id)
            if attempt < CREDIT_ATTEMPTS:
                await asyncio.sleep(RETRY_DELAY_S * attempt)
    log.critical(
        "PAYMENT NOT RECORDED: user %s, %s %s, charge %s, payload %s [%s]",
        facts.user_id, facts.total_amount, facts.currency, facts.charge_id, facts.payload, request_id,
    )  # fmt: skip
    return None


async def on_refunded_payment(
    message: Message, services: BotServices, lang: str, payment_ticket: PaymentTicket | None = None
) -> None:
    """Telegram refunded Stars (after our refund, or on its own): take the credit back once, never below zero."""
    refund = message.refunded_payment
    assert refund is not None and message.from_user is not None
    outcome = await apply_refunded_payment(
        services.engine, services.ledger, user_id=message.from_user.id, charge_id=refund.telegram_payment_charge_id
    )
    if payment_ticket is not None:
        await payment_ticket.mark_recorded()
    await announce_refund(
        services, message.chat.id, lang, refund.telegram_payment_charge_id, refund.total_amount, outcome
    )


# --- commands -----------------------------------------------------------------------------------------


async def on_paysupport(message: Message, services: BotServices, lang: str) -> None:
    await _support_text(message, services, lang, services.settings.paysupport_text, "payments.paysupport")


async def on_terms(message: Message, services: BotServices, lang: str) -> None:
    await _support_text(message, services, lang, services.settings.terms_text, "payments.terms")


async def _support_text(message: Message, services: BotServices, lang: str, custom: str | None, key: str) -> None:
    t = services.t
    text = views.support_text(custom, t, lang, key, services.settings.support_contact)
    # The operator's own text is sent as written (no HTML parsing to trip over).
    await message.answer(text, reply_markup=back_to_menu(t, lang), parse_mode=None if custom else "HTML")


async def on_refund_command(message: Message, command: CommandObject, services: BotServices, lang: str) -> None:
    """/refund <charge_id> <reason> — admins only (the router's filter); refunds a Stars payment.

    Without a reason it shows what the refund would take back (the top-up, its promo bonus, the referrer's
    reward) and changes nothing.
    """
    t = services.t
    parts = (command.args or "").split(maxsplit=1)
    if not parts:
        await message.answer(t("payments.admin.refund_usage", lang))
        return
    charge_id = parts[0]
    if len(parts) < 2 or not parts[1].strip():
        preview = await preview_refund(services.engine, charge_id)
        await message.answer(views.refund_outcome_text(t, lang, charge_id, preview))
        return
    admin_id = message.from_user.id if message.from_user else 0
    outcome = await refund_star_payment(services, charge_id, admin_id=admin_id, reason=parts[1].strip())
    await message.answer(views.refund_outcome_text(t, lang, charge_id, outcome))


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    admin = Router(name=f"{__name__}.admin")
    admin.message.filter(IsAdmin())
    admin.message.register(on_refund_command, Command("refund"))
    router.include_router(admin)

    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_successful_payment, F.successful_payment)
    router.message.register(on_refunded_payment, F.refunded_payment)
    router.message.register(on_paysupport, Command("paysupport"))
    router.message.register(on_terms, Command("terms"))
    router.callback_query.register(on_pack, PayCb.filter(F.a.in_({"s", "yp"})))
    router.callback_query.register(on_custom, PayCb.filter(F.a.in_({"sc", "yc"})))
    router.callback_query.register(on_card, PayCb.filter(F.a == "y"))
    router.callback_query.register(on_back_to_topup, PayCb.filter(F.a == "back"))
    typed = F.text & ~F.text.startswith("/")
    router.message.register(on_amount_typed, PayStates.stars_amount, typed)
    router.message.register(on_amount_typed, PayStates.rub_amount, typed)
    return router
