"""The Telegram admin panel through the sandbox: an admin can do each thing; anyone else never reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.admin.audit import recent
from aistudio.db.repo.users import upsert_user
from aistudio.db.tables import admin_audit, model_overrides, users
from aistudio.generation.launch import LaunchRefused
from aistudio.telegram.callbacks import AdminCb
from aistudio.telegram.catalog_views import model_key
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import body, find_button, relax_throttling, say, tap, version, wait_screen
from tests.e2e.walk_support import PAID_IMAGE_MODEL, PAID_IMAGE_PRICE, fail_next_task, generate

ADMIN = 9001


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,)) as running:
        relax_throttling(running)
        await running.user(ADMIN, lang="en", name="Boss", balance_rub=5)
        yield running


async def command(bot: Bot, user: int, text: str, expect: str) -> dict[str, Any]:
    return await say(bot, user, text, expect)


async def forged(bot: Bot, user: int, *data: AdminCb) -> dict[str, Any]:
    """A message in the user's chat carrying admin buttons (as if an admin screen had leaked)."""
    rows = [[InlineKeyboardButton(text=f"b{i}", callback_data=d.pack())] for i, d in enumerate(data)]
    sent = await bot.parts.bot.send_message(user, "buttons", reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
    return {"message_id": sent.message_id, "keyboard": {"rows": [[r[0].model_dump()] for r in rows]}}


async def audit_actions(bot: Bot) -> list[str]:
    return [e.action for e in await recent(bot.parts.engine, limit=100)]


ADMIN_COMMANDS = ["/admin", "/version"]
SAMPLE_BUTTONS = [
    AdminCb(s="menu"),
    AdminCb(s="menu", a="version"),
    AdminCb(s="dash"),
    AdminCb(s="users", a="search"),
    AdminCb(s="users", a="card", id=str(ADMIN)),
    AdminCb(s="users", a="ban", id=str(ADMIN)),
    AdminCb(s="users", a="adjust", id=str(ADMIN)),
    AdminCb(s="gens", a="fails"),
    AdminCb(s="gens", a="refund", id="1"),
    AdminCb(s="models", a="list"),
    AdminCb(s="models", a="off", id=model_key(PAID_IMAGE_MODEL)),
    AdminCb(s="smoke", a="free"),
    AdminCb(s="audit", a="list"),
]


async def test_a_non_admin_gets_the_ordinary_answers_and_no_admin_data(bot: Bot) -> None:
    user = await bot.user(9101, lang="en", balance_rub=10)
    for text in ADMIN_COMMANDS:
        reply = await command(bot, user, text, "I don't know that command")
        assert "Admin" not in body(reply) and "Version" not in body(reply)

    message = await forged(bot, user, *SAMPLE_BUTTONS)
    for data in SAMPLE_BUTTONS:
        before = await version(bot, user)
        answer = await bot.tg.press(user, message["message_id"], callback_data=data.pack(), wait=5)
        assert "outdated" in str(answer["answer"]), data
        menu = await wait_screen(bot, user, before, "Main menu")
        assert "Admin" not in body(menu)

    async with bot.parts.engine.connect() as conn:
        banned = (await conn.execute(sa.select(users.c.is_banned).where(users.c.id == ADMIN))).scalar_one()
        overrides = (await conn.execute(sa.select(sa.func.count()).select_from(model_overrides))).scalar_one()
        audited = (await conn.execute(sa.select(sa.func.count()).select_from(admin_audit))).scalar_one()
    assert not banned and overrides == 0 and audited == 0
    assert await bot.available(user) == 10_00


async def test_admin_menu_dashboard_and_version(bot: Bot) -> None:
    user = await bot.user(9102, lang="en", balance_rub=50)
    await generate(bot, user, "a paid picture")

    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    assert [b["text"] for row in menu["keyboard"]["rows"] for b in row] == [
        "📊 Dashboard", "👤 Users", "⚠️ Generations & errors", "🧩 Models", "💸 Top-ups", "📣 Broadcasts",
        "🧪 Smoke test", "📜 Audit log", "ℹ️ Version",
    ]  # fmt: skip
    dash = await tap(bot, ADMIN, menu, "📊 Dashboard", "Dashboard")
    text = body(dash)
    assert "Users: 2 · new today 2" in text
    assert "Generations today: 1 · success 100%" in text
    assert f"Revenue: today {PAID_IMAGE_PRICE / 100:.2f} ₽" in text
    assert "Kie: today 4 cr." in text and "Margin: today" in text and "Free tier today: 0 of 2000 cr." in text
    assert "Kie account balance:" in text and "unavailable" not in text

    shown = await command(bot, ADMIN, "/version", "Version")
    assert "Commit:" in body(shown) and "Database: " in body(shown) and "Mode: " in body(shown)
    assert ("postgresql" if bot.parts.settings.is_postgres else "sqlite") in body(shown)


async def test_admin_finds_users_by_id_username_and_name(bot: Bot) -> None:
    async with bot.parts.engine.begin() as conn:
        await upsert_user(conn, 9201, username="MaryMarketer", first_name="Maria Ivanova", language="ru")
        await upsert_user(conn, 9202, username="petr", first_name="Petr Mariev", language="en")
    menu = await command(bot, ADMIN, "/admin", "Admin panel")

    prompt = await tap(bot, ADMIN, menu, "👤 Users", "Send a user id")
    card = await say(bot, ADMIN, "9202", "id 9202")
    assert "Petr Mariev" in body(card) and "@petr" in body(card)
    prompt = await tap(bot, ADMIN, card, "🔎 Another search", "Send a user id")
    card = await say(bot, ADMIN, "@marymarketer", "id 9201")
    assert "Maria Ivanova" in body(card)
    prompt = await tap(bot, ADMIN, card, "🔎 Another search", "Send a user id")
    several = await say(bot, ADMIN, "MARI", "Found 2")
    card = await tap(bot, ADMIN, several, "Petr Mariev", "id 9202")
    prompt = await tap(bot, ADMIN, card, "🔎 Another search", "Send a user id")
    again = await say(bot, ADMIN, "nobody-like-this", "Nobody found")
    assert find_button(again, "✖️ Cancel")
    assert find_button(prompt, "✖️ Cancel")
    cancelled = await tap(bot, ADMIN, again, "✖️ Cancel", "Admin panel")
    assert body(cancelled).startswith("🛠")


async def open_card(bot: Bot, user: int) -> dict[str, Any]:
    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    await tap(bot, ADMIN, menu, "👤 Users", "Send a user id")
    return await say(bot, ADMIN, str(user), f"id {user}")


async def test_admin_adjusts_a_balance_only_with_an_amount_and_a_reason(bot: Bot) -> None:
    user = await bot.user(9301, lang="ru", balance_rub=20, name="Olga")
    card = await open_card(bot, user)
    assert "Available 20 ₽" in body(card)

    prompt = await tap(bot, ADMIN, card, "± Adjust balance", "Send an amount")
    refused = [
        await say(bot, ADMIN, "plenty", "not an amount"),
        await say(bot, ADMIN, "150", "A reason is required"),
        await say(bot, ADMIN, "0 nothing", "must not be zero"),
        await say(bot, ADMIN, "-25 too much", "Can't take more than is available: 20 ₽"),
    ]
    assert prompt and all(find_button(m, "✖️ Cancel") for m in refused)
    assert await bot.available(user) == 20_00

    done = await say(bot, ADMIN, "+150.50 compensation for RQ-ABCD2345", "Balance changed by +150.50 ₽")
    assert "Available now: 170.50 ₽" in body(done)
    await wait_screen(bot, ADMIN, 0, "Available 170.50 ₽")
    assert await bot.available(user) == 170_50
    [entry] = await recent(bot.parts.engine, limit=1)
    assert (entry.action, entry.target, entry.reason, entry.admin_id) == (
        "balance.adjust", f"user:{user}", "compensation for RQ-ABCD2345", ADMIN,
    )  # fmt: skip
    assert entry.before == {"available": 20_00} and entry.after == {"available": 170_50}

    card = await open_card(bot, user)
    await tap(bot, ADMIN, card, "± Adjust balance", "Send an amount")
    await say(bot, ADMIN, "-70 duplicate bonus", "Balance changed by −70 ₽")
    assert await bot.available(user) == 100_50
    assert await bot.books_balanced()

    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    log = await tap(bot, ADMIN, menu, "📜 Audit log", "Audit log")
    assert body(log).count("balance.adjust") == 2 and "duplicate bonus" in body(log)


async def test_ban_refuses_the_user_and_unban_lets_them_back(bot: Bot) -> None:
    user = await bot.user(9401, lang="en", balance_rub=5)
    card = await open_card(bot, user)

    answer = await bot.tg.press(ADMIN, card["message_id"], text="🚫 Ban", wait=5)
    assert "banned" in str(answer["answer"])
    reply = await say(bot, user, "/menu", "restricted")
    assert "Main menu" not in body(reply)

    card = await wait_screen(bot, ADMIN, 0, "· 🚫 banned")
    answer = await bot.tg.press(ADMIN, card["message_id"], text="✅ Unban", wait=5)
    assert "unbanned" in str(answer["answer"])
    await say(bot, user, "/menu", "Main menu")
    assert (await audit_actions(bot))[:2] == ["user.unban", "user.ban"]


async def test_admin_messages_a_user_and_learns_when_the_bot_is_blocked(bot: Bot) -> None:
    user = await bot.user(9501, lang="en", balance_rub=5)
    card = await open_card(bot, user)
    await tap(bot, ADMIN, card, "✉️ Message", "Send the text")
    before = await version(bot, user)
    await say(bot, ADMIN, "Your refund is on its way <3", "Message delivered")
    received = await wait_screen(bot, user, before, "A message from support")
    assert "Your refund is on its way <3" in body(received)

    await bot.tg.block(user)
    card = await open_card(bot, user)
    await tap(bot, ADMIN, card, "✉️ Message", "Send the text")
    await say(bot, ADMIN, "Hello?", "Not delivered")
    entries = await recent(bot.parts.engine, limit=2, target=f"user:{user}")
    assert [(e.action, e.after["delivered"]) for e in entries] == [("user.message", False), ("user.message", True)]


async def test_failures_list_timeline_by_request_id_and_a_manual_refund_once(bot: Bot) -> None:
    user = await bot.user(9601, lang="en", balance_rub=30)
    await fail_next_task(bot)
    failed = await generate(bot, user, "this one fails")
    paid = await generate(bot, user, "this one is delivered")
    assert (failed.state, paid.state, paid.charged_kopecks) == ("failed", "completed", PAID_IMAGE_PRICE)

    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    failures = await tap(bot, ADMIN, menu, "⚠️ Generations & errors", "Failures in the last 24 hours")
    assert f"{PAID_IMAGE_MODEL} · generation_failed: 1 (last {failed.request_id}" in body(failures)
    timeline = await tap(bot, ADMIN, failures, f"🔎 {failed.request_id}", f"Generation #{failed.id}")
    assert "State: failed" in body(timeline) and "hold released automatically" in body(timeline)
    assert "↩️ Refund" not in str(timeline["keyboard"])

    await tap(bot, ADMIN, timeline, "⬅️ Failures", "Failures")
    await tap(bot, ADMIN, await wait_screen(bot, ADMIN, 0, "Failures"), "🔎 Find by RQ or id", "Send a request id")
    await say(bot, ADMIN, "RQ-NOPE2345", "not found")
    details = await say(bot, ADMIN, paid.request_id.lower(), f"Generation #{paid.id}")
    text = body(details)
    for state in ("held", "submitted", "succeeded", "completed"):
        assert f" {state}" in text
    assert "charged 3.80 ₽" in text and "Refund: none" in text

    before = await bot.available(user)
    answer = await bot.tg.press(ADMIN, details["message_id"], text="↩️ Refund 3.80 ₽", wait=5)
    assert "Refunded 3.80 ₽" in str(answer["answer"])
    # A second press (a stale copy of the button) moves nothing.
    stale = await forged(bot, ADMIN, AdminCb(s="gens", a="refund", id=str(paid.id)))
    answer = await bot.tg.press(
        ADMIN, stale["message_id"], callback_data=AdminCb(s="gens", a="refund", id=str(paid.id)).pack(), wait=5
    )
    assert "Already refunded" in str(answer["answer"])
    assert await bot.available(user) == before + PAID_IMAGE_PRICE
    by_id = await find_by_id(bot, paid.id)
    assert "refunded by an admin, 3.80 ₽" in body(by_id)
    assert (await audit_actions(bot)).count("generation.refund") == 1
    assert await bot.books_balanced()


async def find_by_id(bot: Bot, generation_id: int) -> dict[str, Any]:
    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    failures = await tap(bot, ADMIN, menu, "⚠️ Generations & errors", "Failures")
    await tap(bot, ADMIN, failures, "🔎 Find by RQ or id", "Send a request id")
    return await say(bot, ADMIN, str(generation_id), f"Generation #{generation_id}")


async def user_search(bot: Bot, user: int, query: str) -> dict[str, Any]:
    menu = await command(bot, user, "/menu", "Main menu")
    await tap(bot, user, menu, "📚 All models", "Pick a category")
    return await say(bot, user, query, "Found for")


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for row in (message.get("keyboard") or {}).get("rows", []) for b in row]


async def test_a_model_switched_off_is_hidden_and_refused_and_a_new_markup_prices_at_once(bot: Bot) -> None:
    user = await bot.user(9701, lang="en", balance_rub=30)
    card_button = AdminCb(s="models", a="card", id=model_key(PAID_IMAGE_MODEL))
    message = await forged(bot, ADMIN, card_button)
    card = await tap(bot, ADMIN, message, "b0", "grok-imagine/text-to-image")
    assert "State: ✅ enabled" in body(card) and "Markup: ×2 (default)" in body(card)
    assert "Default price: 3.80 ₽" in body(card)

    answer = await bot.tg.press(ADMIN, card["message_id"], text="⛔ Disable", wait=5)
    assert "switched off" in str(answer["answer"])
    found = await user_search(bot, user, "Grok Imagine")
    assert not any(label.startswith("Grok Imagine ·") for label in labels(found))
    with pytest.raises(LaunchRefused) as refused:
        await bot.parts.generations.offer(PAID_IMAGE_MODEL, {"prompt": "x"})
    assert refused.value.reason == "model_unavailable"

    card = await wait_screen(bot, ADMIN, 0, "switched off by an admin")
    answer = await bot.tg.press(ADMIN, card["message_id"], text="✅ Enable", wait=5)
    assert "enabled" in str(answer["answer"])
    found = await user_search(bot, user, "Grok Imagine")
    assert "Grok Imagine · from 3.80 ₽" in labels(found)

    card = await wait_screen(bot, ADMIN, 0, "State: ✅ enabled")
    await tap(bot, ADMIN, card, "✏️ Markup", "Send the markup")
    await say(bot, ADMIN, "zero", "The markup is a number")
    await say(bot, ADMIN, "3", "Markup ×3 applied")
    card = await wait_screen(bot, ADMIN, 0, "Markup: ×3\n")
    assert "Default price: 5.70 ₽" in body(card)
    found = await user_search(bot, user, "Grok Imagine")
    assert "Grok Imagine · from 5.70 ₽" in labels(found)
    assert (await bot.parts.generations.offer(PAID_IMAGE_MODEL, {"prompt": "x"})).quote.kopecks == 570

    await bot.tg.press(ADMIN, card["message_id"], text="↺ Default markup", wait=5)
    assert (await bot.parts.generations.offer(PAID_IMAGE_MODEL, {"prompt": "x"})).quote.kopecks == PAID_IMAGE_PRICE
    assert (await audit_actions(bot))[:4] == ["model.markup", "model.markup", "model.enable", "model.disable"]

    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    models = await tap(bot, ADMIN, menu, "🧩 Models", "Models")
    assert "Page 1 of" in body(models) and any(label.startswith("✅") for label in labels(models))


async def test_smoke_test_on_the_free_models_passes_without_charging_anyone(bot: Bot) -> None:
    menu = await command(bot, ADMIN, "/admin", "Admin panel")
    smoke = await tap(bot, ADMIN, menu, "🧪 Smoke test", "Smoke test")
    count = len(bot.parts.services.free_model_ids)
    before = await version(bot, ADMIN)
    await bot.tg.press(ADMIN, smoke["message_id"], text=f"▶️ Free models ({count})", wait=5)
    report = await wait_screen(bot, ADMIN, before, "passed", within=30)
    assert f"{count} of {count} passed" in body(report), body(report)
    for model_id in bot.parts.services.free_model_ids:
        assert f"✅ {model_id} — " in body(report)
    async with bot.parts.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM generations"))).scalar_one() == 0
    assert await bot.available(ADMIN) == 5_00
