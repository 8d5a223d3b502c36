"""First contact with the bot, through the Telegram emulator and the real Dispatcher."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.e2e.harness import Bot, running_bot


def buttons(message: dict) -> list[str]:
    keyboard = message.get("keyboard") or {}
    return [b["text"] for row in keyboard.get("rows", []) for b in row]


async def test_first_start_in_russian_shows_the_task_menu(bot: Bot) -> None:
    user = await bot.user(501, lang="ru")

    reply = await bot.tg.wait_for_reply(user, after_message_id=(await bot.tg.send_text(user, "/start"))["message_id"])

    assert "Привет, Anna" in reply["text"]
    assert "🎬 Видео для Reels/TikTok" in buttons(reply) and "💰 Баланс" in buttons(reply)


async def test_first_start_in_english_speaks_english(bot: Bot) -> None:
    user = await bot.user(502, lang="en")

    reply = await bot.tg.wait_for_reply(user, after_message_id=(await bot.tg.send_text(user, "/start"))["message_id"])

    assert reply["text"].startswith("Hi, Anna") and "🎬 Video for Reels/TikTok" in buttons(reply)


async def test_language_can_be_switched_and_sticks(bot: Bot) -> None:
    user = await bot.user(503, lang="ru")
    start = await bot.tg.send_text(user, "/start")
    menu = await bot.tg.wait_for_reply(user, after_message_id=start["message_id"])

    await bot.tg.press(user, menu["message_id"], text="🌐 Язык", wait=5)
    chooser = (await bot.tg.bot_messages(user))[-1]
    answer = await bot.tg.press(user, chooser["message_id"], text="🇬🇧 English", wait=5)
    again = await bot.tg.send_text(user, "/menu")
    menu_en = await bot.tg.wait_for_reply(user, after_message_id=again["message_id"])

    assert "Language: English" in str(answer)
    assert menu_en["text"].startswith("🏠 Main menu")


async def test_stale_button_gets_an_answer_and_the_menu(bot: Bot) -> None:
    user = await bot.user(504, lang="en")
    start = await bot.tg.send_text(user, "/start")
    await bot.tg.wait_for_reply(user, after_message_id=start["message_id"])
    # A message left by an older version of the bot, whose buttons no router knows any more.
    old = await bot.parts.bot.send_message(
        user, "old menu", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Old", callback_data="x:old-version-button")]]
        ),
    )  # fmt: skip

    answer = await bot.tg.press(user, old.message_id, callback_data="x:old-version-button", wait=5)
    follow_up = await bot.tg.wait_for_reply(user, after_message_id=old.message_id)

    assert "outdated" in str(answer)
    assert follow_up["text"].startswith("🏠 Main menu")


async def test_unknown_command_and_unsupported_content_get_hints(bot: Bot, tmp_path: Path) -> None:
    user = await bot.user(505, lang="en")
    sent = await bot.tg.send_text(user, "/frobnicate")
    unknown = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])
    voice = tmp_path / "note.ogg"
    voice.write_bytes(b"OggS" + bytes(200))
    sent_voice = await bot.tg.send_file(user, voice, kind="voice")
    hint = await bot.tg.wait_for_reply(user, after_message_id=sent_voice["message_id"])

    assert unknown["text"].startswith("I don't know that command")
    assert "Send text, a photo" in hint["text"] and buttons(hint)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_welcome_bonus_is_credited_once(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, start_bonus_rub=Decimal(50)) as bot:
        user = await bot.user(506, lang="ru")
        for _ in range(2):
            sent = await bot.tg.send_text(user, "/start")
            await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])

        messages = [m["text"] for m in await bot.tg.bot_messages(user)]
        assert sum("приветственный бонус: 50 ₽" in (t or "") for t in messages) == 1
        assert await bot.available(user) == 5_000
        assert await bot.books_balanced()


async def test_menu_button_under_a_photo_opens_the_menu_in_a_new_message(bot: Bot, tmp_path: Path) -> None:
    from aiogram.types import BufferedInputFile

    from aistudio.telegram.keyboards import back_to_menu

    user = await bot.user(507, lang="en")
    start = await bot.tg.send_text(user, "/start")
    await bot.tg.wait_for_reply(user, after_message_id=start["message_id"])
    png = (b"\x89PNG\r\n\x1a\n" + bytes.fromhex("0000000d49484452000000010000000108060000001f15c489")
           + bytes.fromhex("0000000d4944415478da63f8ffff3f0005fe02fea7d6a4f00000000049454e44ae426082"))  # fmt: skip
    photo = await bot.parts.bot.send_photo(
        user, BufferedInputFile(png, "r.png"), reply_markup=back_to_menu(bot.parts.services.t, "en")
    )

    answer = await bot.tg.press(user, photo.message_id, text="🏠 Menu", wait=5)
    menu = await bot.tg.wait_for_reply(user, after_message_id=photo.message_id)

    assert "error" not in str(answer).lower()
    assert menu["text"].startswith("🏠 Main menu")


async def test_leaving_a_wizard_with_menu_stops_it_taking_text(bot: Bot) -> None:
    from tests.e2e.journey_chat import open_wizard, relax_throttling, say

    relax_throttling(bot)
    user = await bot.user(508, lang="en", balance_rub=100)
    await open_wizard(bot, user, "nano banana edit", "🔥 Nano Banana Edit", "step 1 of 2")

    sent = await bot.tg.send_text(user, "/menu")
    await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])
    hint = await say(bot, user, "a red fox in the snow", "Pick a task in the menu")

    assert "step" not in (hint["text"] or "")
