"""Telegram Stars payments: invoices, pre-checkout, successful payment, refunds, invoice links."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery

from aistudio.sandbox.telegram.client import SandboxError, SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator

from .conftest import USER_ID, polling, until

pytestmark = pytest.mark.usefixtures("user")

STARS = [LabeledPrice(label="100 credits", amount=50)]


async def send_star_invoice(bot: Bot, payload: str = "topup:100") -> Message:
    return await bot.send_invoice(
        USER_ID, title="Top up", description="100 credits", payload=payload, currency="XTR", prices=STARS
    )


def shop_router(accept: bool = True) -> tuple[Router, list[Message]]:
    """Answers pre-checkout queries (accepting or declining) and records successful payments."""
    router = Router()
    paid: list[Message] = []

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        if accept:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="Out of stock")

    @router.message(F.successful_payment)
    async def successful(message: Message) -> None:
        paid.append(message)

    return router, paid


async def test_star_payment_flow_reaches_successful_payment(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    invoice = await send_star_invoice(bot)
    assert invoice.invoice and invoice.invoice.currency == "XTR" and invoice.invoice.total_amount == 50
    router, paid = shop_router()
    async with polling(bot, emu, router):
        result = await tg.pay(USER_ID, invoice.message_id)
        assert result["status"] == "paid"
        await until(lambda: bool(paid))
    payment = paid[0].successful_payment
    assert payment is not None
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == ("XTR", 50, "topup:100")
    assert payment.telegram_payment_charge_id == result["telegram_payment_charge_id"]
    view = (await tg.messages(USER_ID))[0]
    assert view["invoice"]["paid"] is True and view["invoice"]["payload"] == "topup:100"
    with pytest.raises(SandboxError) as again:
        await tg.pay(USER_ID, invoice.message_id)
    assert again.value.status == 409


async def test_declined_pre_checkout_creates_no_payment(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    invoice = await send_star_invoice(bot)
    router, paid = shop_router(accept=False)
    async with polling(bot, emu, router):
        result = await tg.pay(USER_ID, invoice.message_id)
    assert result["status"] == "declined" and result["error_message"] == "Out of stock"
    assert paid == []
    assert not any(m.get("successful_payment") for m in await tg.messages(USER_ID))


async def test_unanswered_pre_checkout_times_out(bot: Bot, tg: SandboxTelegramClient) -> None:
    invoice = await send_star_invoice(bot)
    result = await tg.pay(USER_ID, invoice.message_id, answer_timeout=0.05)
    assert result["status"] == "timeout"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(result["pre_checkout_query_id"], ok=True)


async def test_pre_checkout_filtered_by_allowed_updates_never_reaches_the_bot(
    bot: Bot, tg: SandboxTelegramClient
) -> None:
    invoice = await send_star_invoice(bot)
    await bot.get_updates(allowed_updates=["message"])
    result = await tg.pay(USER_ID, invoice.message_id)
    assert result["status"] == "timeout" and "allowed_updates" in result["reason"]


async def test_manual_answer_then_successful_payment_update(bot: Bot, tg: SandboxTelegramClient) -> None:
    invoice = await send_star_invoice(bot, payload="order-7")
    pay = asyncio.create_task(tg.pay(USER_ID, invoice.message_id))
    updates: list[Any] = []
    while not updates:
        updates = await bot.get_updates(timeout=5)
    query = updates[0].pre_checkout_query
    assert query is not None and query.invoice_payload == "order-7" and query.total_amount == 50
    assert await bot.answer_pre_checkout_query(query.id, ok=True)
    result = await pay
    assert result["status"] == "paid"
    follow_up = await bot.get_updates(offset=updates[0].update_id + 1)
    message = follow_up[0].message
    assert message is not None and message.successful_payment is not None
    assert message.successful_payment.invoice_payload == "order-7"


async def test_refund_twice_is_charge_already_refunded(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    invoice = await send_star_invoice(bot)
    router, _ = shop_router()
    async with polling(bot, emu, router):
        result = await tg.pay(USER_ID, invoice.message_id)
    charge_id = result["telegram_payment_charge_id"]
    assert await bot.refund_star_payment(USER_ID, charge_id) is True
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(USER_ID, charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(USER_ID, "stx-unknown")
    refunds = [m for m in await tg.messages(USER_ID) if m.get("refunded_payment")]
    assert refunds[0]["refunded_payment"]["telegram_payment_charge_id"] == charge_id


async def test_invoice_rules_for_stars(bot: Bot) -> None:
    common: dict[str, Any] = {"title": "T", "description": "D", "payload": "p"}
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(USER_ID, currency="XTR", prices=STARS, provider_token="tok", **common)
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await bot.send_invoice(USER_ID, currency="XTR", prices=STARS * 2, **common)
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(USER_ID, currency="RUB", prices=STARS, **common)
    with pytest.raises(TelegramBadRequest, match="invoice title"):
        await bot.send_invoice(USER_ID, currency="XTR", prices=STARS, **{**common, "title": "x" * 33})
    rub = await bot.send_invoice(USER_ID, currency="RUB", prices=STARS, provider_token="381764678:TEST", **common)
    assert rub.invoice and rub.invoice.currency == "RUB"


async def test_invoice_link_can_be_paid(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    link = await bot.create_invoice_link(
        title="Pro",
        description="30 days",
        payload="sub:pro",
        currency="XTR",
        prices=STARS,
        subscription_period=2592000,
    )
    assert link.startswith("https://t.me/$")
    router, paid = shop_router()
    async with polling(bot, emu, router):
        result = await tg.pay(USER_ID, invoice_link=link)
        await until(lambda: bool(paid))
    assert result["status"] == "paid"
    payment = paid[0].successful_payment
    assert payment and payment.invoice_payload == "sub:pro" and payment.subscription_expiration_date


async def test_subscription_period_must_be_30_days(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_PERIOD_INVALID"):
        await bot.create_invoice_link(
            title="Pro", description="d", payload="p", currency="XTR", prices=STARS, subscription_period=3600
        )
