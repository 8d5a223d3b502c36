"""Telegram Stars: packs and custom amounts, pre-checkout refusals, exactly-once credit, refunds, /paysupport."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from aistudio.billing.accounts import Operator
from aistudio.db.sql import utcnow
from aistudio.db.tables import invoices
from tests.e2e.journey_chat import body, button_texts, say, tap, version, wait_screen
from tests.e2e.pay_support import (
    ADMIN,
    admin_texts,
    audit_rows,
    invoice_row,
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

USER = 5101


async def test_stars_pack_purchase_credits_exactly_the_pack(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        screen = await topup_screen(bot, USER)
        invoice = await press_for_invoice(bot, USER, screen, "⭐ 100 → 130 ₽")
        _, answer = await pay_and_wait(bot, USER, invoice, "Balance topped up")

        sent = (await bot.tg.calls("sendInvoice"))[-1]["params"]
        [payment] = await payment_rows(bot, USER)
        stored = await invoice_row(bot, invoice["invoice"]["payload"])
        assert button_texts(screen)[:5] == [
            "⭐ 50 → 65 ₽",
            "⭐ 100 → 130 ₽",
            "⭐ 250 → 325 ₽",
            "⭐ 500 → 650 ₽",
            "⭐ 1000 → 1300 ₽",
        ]
        assert "🎁 Promo code" in button_texts(screen) and "🧾 Bank transfer" not in button_texts(screen)
        assert not any("By card" in b for b in button_texts(screen))  # no YooKassa token configured
        assert sent["currency"] == "XTR" and not sent.get("provider_token") and len(sent["prices"]) == 1
        assert invoice["invoice"]["total_amount"] == 100 and len(invoice["invoice"]["payload"]) >= 20
        assert "+130 ₽" in body(answer) and "Balance now: 130 ₽" in body(answer)
        assert "🏠 Menu" in button_texts(answer)
        assert await bot.available(USER) == 130_00
        assert (payment.provider, payment.status, payment.amount_kopecks, payment.provider_amount) == (
            "stars", "credited", 130_00, 100
        )  # fmt: skip
        assert (stored.status, stored.payment_id) == ("paid", payment.id)
        assert await bot.books_balanced()


async def test_custom_star_amount_is_validated_then_invoiced(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        screen = await topup_screen(bot, USER)
        prompt = await tap(bot, USER, screen, "⭐ Another number", "How many Stars?")
        not_number = await say(bot, USER, "lots", "A whole number is needed")
        small = await say(bot, USER, "10", "below the minimum")
        large = await say(bot, USER, "20000", "above the maximum")
        invoice = await type_for_invoice(bot, USER, "777 ⭐")
        _, answer = await pay_and_wait(bot, USER, invoice, "Balance topped up")

        assert "from 50 to 10000" in body(prompt)
        assert all("from 50 to 10000" in body(m) for m in (not_number, small, large))
        assert invoice["invoice"]["total_amount"] == 777
        assert "+1010.10 ₽" in body(answer)  # 777 × 1.3 ₽
        assert await bot.available(USER) == 1010_10
        assert await bot.books_balanced()


async def test_repeated_successful_payment_is_credited_once(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 50 → 65 ₽")
        await pay_and_wait(bot, USER, invoice, "Balance topped up")
        payment = await successful_payment_of(bot, USER)

        before = await version(bot, USER)
        await push_message(bot, USER, successful_payment=payment)  # Telegram delivers it again
        again = await wait_screen(bot, USER, before, "already credited")

        assert "Balance: 65 ₽" in body(again)
        assert await bot.available(USER) == 65_00
        assert len(await payment_rows(bot, USER)) == 1
        assert len(await transfers_with_key(bot, "topup:stars:")) == 1
        assert await bot.books_balanced()


async def test_expired_invoice_is_refused_at_pre_checkout(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="ru")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER, lang="ru"), "⭐ 100 → 130 ₽")
        payload = invoice["invoice"]["payload"]
        async with bot.parts.engine.begin() as conn:
            past = utcnow() - timedelta(seconds=1)
            await conn.execute(sa.update(invoices).where(invoices.c.payload == payload).values(expires_at=past))

        result = await bot.tg.pay(USER, invoice["message_id"])

        assert result["status"] == "declined"
        assert "Срок действия счёта истёк" in result["error_message"]
        assert (await invoice_row(bot, payload)).status == "expired"
        assert await bot.available(USER) == 0 and await payment_rows(bot, USER) == []
        assert await bot.books_balanced()


async def test_changed_pack_or_amount_is_refused_at_pre_checkout(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        screen = await topup_screen(bot, USER)
        repriced = await press_for_invoice(bot, USER, screen, "⭐ 100 → 130 ₽")
        tampered = await press_for_invoice(bot, USER, screen, "⭐ 250 → 325 ₽")
        async with bot.parts.engine.begin() as conn:  # the row no longer agrees with what Telegram charges
            payload = tampered["invoice"]["payload"]
            await conn.execute(sa.update(invoices).where(invoices.c.payload == payload).values(amount=25))

        bot.parts.services.settings.stars_rub_per_star = Decimal("1.5")  # the operator changed the rate
        changed = await bot.tg.pay(USER, repriced["message_id"])
        mismatched = await bot.tg.pay(USER, tampered["message_id"])

        assert changed["status"] == "declined" and "terms of this pack have changed" in changed["error_message"]
        assert mismatched["status"] == "declined" and "does not match the invoice" in mismatched["error_message"]
        assert await bot.available(USER) == 0 and await payment_rows(bot, USER) == []
        assert await bot.books_balanced()


async def test_payment_that_differs_from_its_invoice_is_not_credited_and_admins_are_alerted(
    database_url: str, tmp_path: Path
) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        invoice = await press_for_invoice(bot, USER, await topup_screen(bot, USER), "⭐ 500 → 650 ₽")
        payload = invoice["invoice"]["payload"]

        before = await version(bot, USER)
        forged = {"currency": "XTR", "total_amount": 1, "invoice_payload": payload}
        charge = {"telegram_payment_charge_id": "stxFORGED1", "provider_payment_charge_id": ""}
        await push_message(bot, USER, successful_payment={**forged, **charge})
        told = await wait_screen(bot, USER, before, "does not match its invoice")
        alerts = [text for text in await admin_texts(bot) if "stxFORGED1" in text]

        [payment] = await payment_rows(bot, USER)
        assert "RQ-" in body(told) and "🏠 Menu" in button_texts(told)
        assert len(alerts) == 1 and "not credited" in alerts[0] and "RQ-" in alerts[0]
        assert (payment.status, payment.amount_kopecks, payment.meta["reason"]) == ("rejected", 0, "amount")
        assert (await invoice_row(bot, payload)).status == "mismatch"
        assert await bot.available(USER) == 0
        assert await bot.books_balanced()


async def buy_pack(bot, user: int, label: str = "⭐ 100 → 130 ₽") -> str:
    invoice = await press_for_invoice(bot, user, await topup_screen(bot, user), label)
    paid, _ = await pay_and_wait(bot, user, invoice, "Balance topped up")
    return paid["telegram_payment_charge_id"]


async def test_admin_refund_debits_the_wallet_refunds_the_stars_and_is_audited(
    database_url: str, tmp_path: Path
) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        charge = await buy_pack(bot, USER)

        before = await version(bot, ADMIN)
        await bot.tg.send_text(ADMIN, f"/refund {charge} asked by the user")
        reply = await wait_screen(bot, ADMIN, before, "Refunded")
        notice = await wait_screen(bot, USER, 0, "Refund of 100 ⭐ done")  # Telegram's refunded_payment

        calls = await bot.tg.calls("refundStarPayment")
        [payment] = await payment_rows(bot, USER)
        [audit] = await audit_rows(bot, "payment.refund")
        assert "130 ₽" in body(reply) and "Balance now: 0 ₽" in body(notice)
        assert len(calls) == 1 and calls[0]["params"]["telegram_payment_charge_id"] == charge and calls[0]["ok"]
        assert payment.status == "refunded" and payment.meta["refund"]["admin_id"] == ADMIN
        assert (audit.admin_id, audit.target, audit.reason) == (ADMIN, f"payment:stars:{charge}", "asked by the user")
        assert audit.before["status"] == "credited" and audit.after["status"] == "refunded"
        assert len(await transfers_with_key(bot, f"refund:stars:{charge}")) == 1  # the update did not debit again
        assert await bot.available(USER) == 0
        assert await bot.books_balanced()


async def test_refund_larger_than_the_balance_is_refused_and_changes_nothing(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        charge = await buy_pack(bot, USER)
        await bot.parts.services.ledger.debit("spent:test", USER, 50_00, Operator.REVENUE)  # spent 50 of 130 ₽

        before = await version(bot, ADMIN)
        await bot.tg.send_text(ADMIN, f"/refund {charge} duplicate")
        reply = await wait_screen(bot, ADMIN, before, "Refund refused")

        [payment] = await payment_rows(bot, USER)
        assert "can spend 80 ₽ but 130 ₽" in body(reply)
        assert await bot.tg.calls("refundStarPayment") == []
        assert payment.status == "credited" and await audit_rows(bot, "payment.refund") == []
        assert await bot.available(USER) == 80_00
        assert await bot.books_balanced()


async def test_refund_is_an_unknown_command_for_users(database_url: str, tmp_path: Path) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        charge = await buy_pack(bot, USER)

        reply = await say(bot, USER, f"/refund {charge} mine", "know that command")

        assert await bot.tg.calls("refundStarPayment") == [] and "Refund" not in body(reply)
        assert await bot.available(USER) == 130_00
        assert await bot.books_balanced()


async def test_refund_made_by_telegram_debits_once_or_alerts_when_the_wallet_is_short(
    database_url: str, tmp_path: Path
) -> None:
    async with paying_bot(database_url, tmp_path) as bot:
        await bot.user(USER, lang="en")
        covered = await buy_pack(bot, USER, "⭐ 50 → 65 ₽")
        short = await buy_pack(bot, USER, "⭐ 100 → 130 ₽")
        await bot.parts.services.ledger.debit("spent:test", USER, 100_00, Operator.REVENUE)  # 95 ₽ left

        def refund(charge: str, stars: int) -> dict[str, object]:
            return {
                "currency": "XTR",
                "total_amount": stars,
                "invoice_payload": "x",
                "telegram_payment_charge_id": charge,
            }

        before = await version(bot, USER)
        await push_message(bot, USER, refunded_payment=refund(covered, 50))
        first = await wait_screen(bot, USER, before, "Refund of 50 ⭐ done")
        before = await version(bot, USER)
        await push_message(bot, USER, refunded_payment=refund(covered, 50))  # delivered twice
        await wait_screen(bot, USER, before, "Refund of 50 ⭐ done")
        await push_message(bot, USER, refunded_payment=refund(short, 100))  # 130 ₽ owed, 30 ₽ left

        alerts = [text for text in await admin_texts(bot) if short in text]
        by_charge = {p.external_id: p for p in await payment_rows(bot, USER)}
        assert "65 ₽ taken off" in body(first) and "Balance now: 30 ₽" in body(first)
        assert len(await transfers_with_key(bot, f"refund:stars:{covered}")) == 1
        assert await transfers_with_key(bot, f"refund:stars:{short}") == []
        assert len(alerts) == 1 and "left untouched" in alerts[0]
        assert by_charge[covered].status == by_charge[short].status == "refunded"
        assert by_charge[short].meta["refund"]["unrecovered_kopecks"] == 130_00
        assert await bot.available(USER) == 30_00
        assert await bot.books_balanced()


async def test_paysupport_and_terms_answer_with_defaults_or_the_operators_texts(
    database_url: str, tmp_path: Path
) -> None:
    async with paying_bot(database_url, tmp_path, support_contact="@help_desk") as bot:
        await bot.user(USER, lang="ru")
        support = await say(bot, USER, "/paysupport", "Помощь с оплатой")
        terms = await say(bot, USER, "/terms", "Условия")
        commands = (await bot.tg.calls("setMyCommands"))[0]["params"]["commands"]
        assert "@help_desk" in body(support) and "@help_desk" in body(terms)
        assert {"paysupport", "terms"} <= {c["command"] for c in commands}
    async with paying_bot(
        database_url, tmp_path, paysupport_text="Пишите <b> на pay@x.ru", terms_text="Оферта: x.ru"
    ) as bot:
        await bot.user(USER, lang="ru")
        support = await say(bot, USER, "/paysupport", "pay@x.ru")
        terms = await say(bot, USER, "/terms", "Оферта")
        assert body(support) == "Пишите <b> на pay@x.ru" and body(terms) == "Оферта: x.ru"
        assert await bot.books_balanced()
