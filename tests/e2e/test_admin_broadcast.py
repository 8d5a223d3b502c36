"""Broadcasts through the sandbox: an admin composes, previews, sends to a segment and watches the progress;
a user who is not an admin never reaches any of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.telegram.callbacks import AdminCb
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import body, find_button, relax_throttling, say, tap, version, wait_screen

ADMIN = 900
TEXT = "Big news & <more> soon"


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,), broadcast_rate_per_s=50.0) as running:
        relax_throttling(running)
        yield running


async def delivered(bot: Bot) -> Counter[int]:
    calls = await bot.tg.calls("sendMessage")
    return Counter(int(c["params"]["chat_id"]) for c in calls if c["ok"] and "Big news" in c["params"].get("text", ""))


async def test_admin_composes_previews_and_sends_to_a_segment_with_live_progress(bot: Bot) -> None:
    english = [await bot.user(uid, lang="en", balance_rub=1) for uid in (11, 12, 13)]
    russian = [await bot.user(uid, lang="ru", balance_rub=1) for uid in (21, 22)]
    await bot.user(ADMIN, lang="ru", balance_rub=1)  # the admin's own language: Russian screens

    menu = await say(bot, ADMIN, "/broadcast", "Рассылки")
    ask = await tap(bot, ADMIN, menu, "✍️ Новая рассылка", "Пришлите текст")
    ask_button = await say(bot, ADMIN, TEXT, "Добавить кнопку")
    await say(bot, ADMIN, "no url here", "Не получилось")
    picker = await say(bot, ADMIN, "Open | https://example.com/news", "Кому отправить")
    assert "Язык: английский (3)" in [b["text"] for row in picker["keyboard"]["rows"] for b in row]
    assert ask["message_id"] < ask_button["message_id"]

    before = await version(bot, ADMIN)
    await bot.tg.press(ADMIN, picker["message_id"], text="Язык: английский (3)", wait=5)
    confirm = await wait_screen(bot, ADMIN, before, "ровно то, что получат")
    preview = await wait_screen(bot, ADMIN, before, TEXT)
    assert body(preview) == TEXT and find_button(preview, "Open")["url"] == "https://example.com/news"
    assert "Получателей: 3" in body(confirm)
    assert await delivered(bot) == Counter({ADMIN: 1})  # only the preview so far

    progress = await tap(bot, ADMIN, confirm, "✅ Отправить", "Рассылка #")
    done = await wait_screen(bot, ADMIN, progress["version"] - 1, "завершена", within=10)

    assert "Доставлено: 3" in body(done) and "Всего: 3" in body(done)
    got = await delivered(bot)
    assert {uid: got[uid] for uid in english} == dict.fromkeys(english, 1)
    assert all(got[uid] == 0 for uid in russian)
    user_copy = (await bot.tg.bot_messages(11))[-1]
    assert body(user_copy) == TEXT and find_button(user_copy, "Open")["url"] == "https://example.com/news"
    listing = await say(bot, ADMIN, "/broadcast", "завершена · 3/3")
    assert "Язык: английский" in body(listing)


async def test_pause_and_resume_from_the_progress_message(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,), broadcast_rate_per_s=4.0) as bot:
        relax_throttling(bot)
        await pause_and_resume(bot)


async def pause_and_resume(bot: Bot) -> None:
    for uid in range(31, 39):
        await bot.user(uid, lang="en", balance_rub=1)
    await bot.user(ADMIN, lang="en", balance_rub=1)

    menu = await say(bot, ADMIN, "/broadcast", "Broadcasts")
    await tap(bot, ADMIN, menu, "✍️ New broadcast", "Send the broadcast text")
    await say(bot, ADMIN, TEXT, "Add a link button")
    skip = (await bot.tg.bot_messages(ADMIN))[-1]
    picker = await tap(bot, ADMIN, skip, "➡️ No button", "Who gets it")
    before = await version(bot, ADMIN)
    await bot.tg.press(ADMIN, picker["message_id"], text="Everyone (9)", wait=5)
    confirm = await wait_screen(bot, ADMIN, before, "exactly what users will get")
    progress = await tap(bot, ADMIN, confirm, "✅ Send", "Broadcast #")

    paused = await tap(bot, ADMIN, progress, "⏸ Pause", "paused")
    stopped_at = sum((await delivered(bot)).values())
    assert stopped_at < 10  # 9 users + the preview; at 4/s the pause came first
    resumed = await tap(bot, ADMIN, paused, "▶️ Resume", "running")
    await wait_screen(bot, ADMIN, resumed["version"], "done", within=15)

    got = await delivered(bot)
    assert sum(got.values()) == 10 and got[ADMIN] == 2 and max(got[uid] for uid in range(31, 39)) == 1


async def test_a_user_who_is_not_an_admin_reaches_nothing_of_it(bot: Bot) -> None:
    user = await bot.user(50, lang="en", balance_rub=1)

    reply = await say(bot, user, "/broadcast", "")
    assert "Broadcasts" not in body(reply)

    forged = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=a, callback_data=AdminCb(s="bc", a=a, id="1").pack())]
            for a in ("menu", "new", "go", "pause", "cancel")
        ]
    )
    planted = await bot.parts.bot.send_message(user, "buttons", reply_markup=forged)
    for action in ("menu", "new", "go", "pause", "cancel"):
        answer = await bot.tg.press(user, planted.message_id, text=action, wait=5)
        assert answer["answered"]
        assert "Broadcast" not in str(answer)
    texts = [body(m) for m in await bot.tg.bot_messages(user)]
    assert not any("Broadcast" in text or "broadcast text" in text for text in texts)
