"""Balance: the figures on the screen are the ledger's, in plain words; the top-up button shows the ways to pay."""

from __future__ import annotations

from aistudio.billing.accounts import Operator
from aistudio.billing.queries import wallet_balance, wallet_statement
from aistudio.pricing.price import format_rub
from tests.e2e.harness import Bot
from tests.e2e.walk_support import PAID_IMAGE_MODEL, button_texts, fail_next_task, generate, has_error_text


async def open_from_menu(bot: Bot, user: int, item: str) -> dict:
    """/menu, then press `item`; returns the menu message after the bot edited it."""
    sent = await bot.tg.send_text(user, "/menu")
    menu = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])
    version = menu["version"]
    assert (await bot.tg.press(user, menu["message_id"], text=item, wait=5))["answered"]
    transcript = await bot.tg.wait_until(
        user, lambda t: any(m["message_id"] == menu["message_id"] and m["version"] > version for m in t["messages"])
    )
    return next(m for m in transcript["messages"] if m["message_id"] == menu["message_id"])


async def test_new_user_sees_a_zero_balance_and_no_operations(bot: Bot) -> None:
    user = await bot.user(701, lang="ru")

    sent = await bot.tg.send_text(user, "/balance")
    reply = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])

    assert reply["text"].splitlines()[0] == "💰 Баланс: 0 ₽"
    assert "Операций пока не было." in reply["text"]
    assert button_texts(reply) == ["💳 Пополнить", "🕘 История", "🏠 Меню"]


async def test_balance_screen_figures_equal_the_ledger(bot: Bot) -> None:
    user = await bot.user(702, lang="en", balance_rub=100)
    await bot.parts.services.ledger.credit(f"bonus:test:{user}", user, 1500, Operator.BONUS, reason="welcome")
    await generate(bot, user, "a paid picture")
    await fail_next_task(bot)
    await generate(bot, user, "a failed picture")
    await bot.parts.services.ledger.adjust(f"adjust:test:{user}", user, -120, admin_id=1, reason="duplicate bonus")
    # One generation still running: its money is reserved.
    await bot.kie("POST", "/sandbox/timing", {"model": PAID_IMAGE_MODEL, "duration": 10_000})
    offer = await bot.parts.generations.offer(PAID_IMAGE_MODEL, {"prompt": "still running"})
    await bot.parts.generations.launch(user, offer, chat_id=user)

    screen = await open_from_menu(bot, user, "💰 Balance")
    ledger = await wallet_balance(bot.parts.engine, user)
    statement = await wallet_statement(bot.parts.engine, user, limit=10)
    lines = screen["text"].splitlines()

    assert ledger.pending == 380 and ledger.available == 100_00 + 1500 - 380 - 120 - 380
    assert lines[0] == f"💰 Balance: {format_rub(ledger.available)} ₽"
    assert lines[1].startswith(f"⏳ Reserved for running generations: {format_rub(ledger.pending)} ₽")
    entries = lines[lines.index("Recent operations:") + 1 :]
    assert len(entries) == len(statement) == 7
    for shown, line in zip(entries, statement, strict=True):
        assert f"{format_rub(abs(line.amount))} ₽" in shown
    assert entries[0].startswith("⏳") and entries[0].endswith("3.80 ₽ reserved for “Grok Imagine”")
    assert entries[1].endswith("−1.20 ₽ correction by support")
    assert entries[2].endswith("3.80 ₽ reserved for “Grok Imagine” returned to the balance")
    assert entries[3].endswith("−3.80 ₽ paid for “Grok Imagine”")
    assert entries[4].endswith("3.80 ₽ reserved for “Grok Imagine” → paid")
    assert entries[5].endswith("+15 ₽ bonus") and entries[6].endswith("+100 ₽ top-up")
    assert await bot.books_balanced()


async def test_statement_shows_only_the_last_ten_entries(bot: Bot) -> None:
    user = await bot.user(703, lang="en", balance_rub=1)
    for n in range(12):
        await bot.parts.services.ledger.credit(f"topup:test:{user}:{n}", user, 100 * (n + 1), Operator.TOPUPS_STARS)

    sent = await bot.tg.send_text(user, "/balance")
    reply = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])
    entries = reply["text"].splitlines()[reply["text"].splitlines().index("Recent operations:") + 1 :]

    assert len(entries) == 10
    assert entries[0].endswith("+12 ₽ top-up") and entries[-1].endswith("+3 ₽ top-up")
    assert reply["text"].startswith("💰 Balance: 79 ₽")


async def test_top_up_button_shows_the_ways_to_pay_and_leads_back(bot: Bot) -> None:
    user = await bot.user(704, lang="ru")
    screen = await open_from_menu(bot, user, "💰 Баланс")

    answer = await bot.tg.press(user, screen["message_id"], text="💳 Пополнить", wait=5)
    topup = await bot.tg.wait_until(user, lambda t: "Пополнение баланса" in (t["messages"][-1]["text"] or ""))
    message = topup["messages"][-1]
    back = await bot.tg.press(user, message["message_id"], text="⬅️ К балансу", wait=5)
    again = await bot.tg.wait_until(user, lambda t: (t["messages"][-1]["text"] or "").startswith("💰 Баланс"))

    assert answer["answered"] and back["answered"]
    assert "Сейчас на балансе: 0 ₽" in message["text"] and "1 ⭐ = 1.3 ₽" in message["text"]
    assert button_texts(message) == [
        "⭐ 50 → 65 ₽", "⭐ 100 → 130 ₽", "⭐ 250 → 325 ₽", "⭐ 500 → 650 ₽", "⭐ 1000 → 1300 ₽",
        "⭐ Другое количество", "🎁 Промокод", "⬅️ К балансу", "🏠 Меню",
    ]  # fmt: skip
    assert not has_error_text(again["messages"])
