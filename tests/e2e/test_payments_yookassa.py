"""YooKassa through Telegram Payments: rouble invoices with the provider token, receipts when required."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.journey_chat import body, button_texts, find_button, say, tap, wait_screen
from tests.e2e.pay_support import (
    pay_and_wait,
    paying_bot,
    payment_rows,
    press_for_invoice,
    push_message,
    successful_payment_of,
    topup_screen,
    transfers_with_key,
    type_for_invoice,
)

USER = 5201
TOKEN = "381764678:TEST:100037"


async def test_card_purchase_credits_the_roubles_paid(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path, yookassa_provider_token=TOKEN) as bot:
        await bot.user(USER, lang="en")
        screen = await topup_screen(bot, USER)
        card = await tap(bot, USER, screen, "💳 By card (₽)", "Pay by card")
        invoice = await press_for_invoice(bot, USER, card, "💳 300 ₽")
        _, answer = await pay_and_wait(bot, USER, invoice, "Balance topped up")

        sent = (await bot.tg.calls("sendInvoice"))[-1]["params"]
        [payment] = await payment_rows(bot, USER)
        assert button_texts(card)[:5] == ["💳 100 ₽", "💳 300 ₽", "💳 500 ₽", "💳 1000 ₽", "💳 3000 ₽"]
        assert (sent["currency"], sent["provider_token"], sent["prices"][0]["amount"]) == ("RUB", TOKEN, 300_00)
        assert "provider_data" not in sent and not sent.get("need_email")
        assert "+300 ₽" in body(answer) and "Balance now: 300 ₽" in body(answer)
        assert (payment.provider, payment.status, payment.amount_kopecks, payment.currency) == (
            "yookassa", "credited", 300_00, "RUB"
        )  # fmt: skip
        assert payment.meta["provider_charge_id"].startswith("prov_")
        assert await bot.available(USER) == 300_00
        assert await bot.books_balanced()


async def test_card_custom_amount_carries_the_receipt_when_required_and_is_credited_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = {"yookassa_provider_token": TOKEN, "yookassa_receipt_required": True, "yookassa_vat_code": 6}
    async with paying_bot(database_url, tmp_path, **settings) as bot:
        await bot.user(USER, lang="ru")
        card = await tap(bot, USER, await topup_screen(bot, USER, lang="ru"), "💳 Картой (₽)", "Оплата картой")
        await tap(bot, USER, card, "✏️ Другая сумма", "Какую сумму внести?")
        too_small = await say(bot, USER, "50", "меньше минимума")
        invoice = await type_for_invoice(bot, USER, "1 500 ₽")
        await pay_and_wait(bot, USER, invoice, "Баланс пополнен")
        await push_message(bot, USER, successful_payment=await successful_payment_of(bot, USER))  # redelivered
        await wait_screen(bot, USER, 0, "уже зачислен")

        sent = (await bot.tg.calls("sendInvoice"))[-1]["params"]
        receipt = json.loads(sent["provider_data"])["receipt"]
        assert "от 100 до 100000" in body(too_small) and "Чек придёт на почту" in body(card)
        assert sent["need_email"] is True and sent["send_email_to_provider"] is True
        assert receipt == {
            "items": [
                {
                    "description": "Пополнение баланса",
                    "quantity": "1.00",
                    "amount": {"value": "1500.00", "currency": "RUB"},
                    "vat_code": 6,
                }
            ]
        }
        assert sent["prices"] == [{"label": "Пополнение баланса", "amount": 1500_00}]
        assert await bot.available(USER) == 1500_00
        assert len(await transfers_with_key(bot, "topup:yookassa:")) == 1
        assert await bot.books_balanced()


async def test_bank_transfer_button_only_when_manual_transfers_are_enabled(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path, manual_transfer_enabled=True) as bot:
        await bot.user(USER, lang="en")
        screen = await topup_screen(bot, USER)

        assert find_button(screen, "🧾 Bank transfer")["callback_data"] == "m:manual_topup"
        assert find_button(screen, "🎁 Promo code")["callback_data"] == "m:promo"
        assert not any("By card" in text for text in button_texts(screen))
        assert await bot.books_balanced()
