"""A payer's side of the payment tests: open the top-up screen, ask for an invoice, pay it, replay updates."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aistudio.db.repo.users import upsert_user
from aistudio.db.tables import admin_audit, invoices, ledger_transfers, payments
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import Message, body, find_button, relax_throttling, say, tap, version, wait_screen

ADMIN = 9001
_update_ids = itertools.count(900_000_000)


@contextlib.asynccontextmanager
async def paying_bot(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Bot]:
    """The bot with one admin (ADMIN, in the emulator too) and flood control lifted for quick tapping."""
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,), **settings) as bot:
        relax_throttling(bot)
        await bot.user(ADMIN, lang="en", name="Admin")
        async with bot.parts.engine.begin() as conn:  # known to the bot: alerts come in the admin's language
            await upsert_user(conn, ADMIN, first_name="Admin", language="en")
        yield bot


async def topup_screen(bot: Bot, user: int, *, lang: str = "en") -> Message:
    """/balance, then the top-up button; returns the top-up screen."""
    before = await version(bot, user)
    await bot.tg.send_text(user, "/balance")
    balance = await wait_screen(bot, user, before, "Balance" if lang == "en" else "Баланс")
    label = "💳 Top up" if lang == "en" else "💳 Пополнить"
    return await tap(bot, user, balance, label, "Top up the balance" if lang == "en" else "Пополнение баланса")


async def wait_invoice(bot: Bot, user: int, after_version: int) -> Message:
    found: list[Message] = []

    def has_invoice(transcript: dict[str, Any]) -> bool:
        for m in reversed(transcript["messages"]):
            if m["direction"] == "out" and m.get("invoice") and m["version"] > after_version:
                found.append(m)
                return True
        return False

    await bot.tg.wait_until(user, has_invoice)
    return found[-1]


async def press_for_invoice(bot: Bot, user: int, screen: Message, label: str) -> Message:
    """Press a pack button; returns the invoice message the bot sends."""
    before = await version(bot, user)
    button = find_button(screen, label)
    answer = await bot.tg.press(user, screen["message_id"], callback_data=button["callback_data"], wait=5)
    assert answer["answered"]
    return await wait_invoice(bot, user, before)


async def type_for_invoice(bot: Bot, user: int, text: str) -> Message:
    before = await version(bot, user)
    await bot.tg.send_text(user, text)
    return await wait_invoice(bot, user, before)


async def pay_and_wait(bot: Bot, user: int, invoice: Message, expect: str) -> tuple[dict[str, Any], Message]:
    """Pay the invoice (pre-checkout, then successful_payment); returns the payment and the bot's answer."""
    before = await version(bot, user)
    paid = await bot.tg.pay(user, invoice["message_id"])
    assert paid["status"] == "paid", paid
    return paid, await wait_screen(bot, user, before, expect)


async def successful_payment_of(bot: Bot, user: int) -> dict[str, Any]:
    """The last successful_payment message the user's client sent the bot."""
    messages = [m for m in await bot.tg.messages(user) if m.get("successful_payment")]
    return messages[-1]["successful_payment"]


async def push_message(bot: Bot, user: int, **content: Any) -> int:
    """Deliver one more message update from `user`, as Telegram would (a redelivery or an event we can't
    trigger through the emulator's UI); returns the update id."""
    update_id = next(_update_ids)
    raw = {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000,
            "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Anna"},
            "from": {"id": user, "is_bot": False, "first_name": "Anna", "language_code": "en"},
            **content,
        },
    }
    await bot.parts.dispatcher.feed_raw_update(bot.parts.bot, raw)
    return update_id


async def say_and_wait(bot: Bot, user: int, text: str, expect: str) -> Message:
    return await say(bot, user, text, expect)


async def rows(bot: Bot, table: sa.Table, *where: Any) -> list[Any]:
    async with bot.parts.engine.connect() as conn:
        return list((await conn.execute(sa.select(table).where(*where))).all())


async def payment_rows(bot: Bot, user: int) -> list[Any]:
    return await rows(bot, payments, payments.c.user_id == user)


async def invoice_row(bot: Bot, payload: str) -> Any:
    return (await rows(bot, invoices, invoices.c.payload == payload))[0]


async def audit_rows(bot: Bot, action: str) -> list[Any]:
    return await rows(bot, admin_audit, admin_audit.c.action == action)


async def transfers_with_key(bot: Bot, prefix: str) -> list[Any]:
    return await rows(bot, ledger_transfers, ledger_transfers.c.idempotency_key.like(f"{prefix}%"))


async def admin_texts(bot: Bot) -> list[str]:
    return [body(m) for m in await bot.tg.bot_messages(ADMIN)]
