"""Send-rate limits: off by default; when on, 429 with retry_after per chat and globally."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator

from .conftest import USER_ID


async def test_limits_are_off_by_default(bot: Bot, user: object) -> None:
    for i in range(50):
        await bot.send_message(USER_ID, f"burst {i}")


async def test_per_chat_burst_then_429_with_retry_after(bot: Bot, tg: SandboxTelegramClient, user: object) -> None:
    await tg.configure(rate_limits=True, per_chat_rate=1.0, per_chat_burst=3)
    for i in range(3):
        await bot.send_message(USER_ID, f"ok {i}")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER_ID, "one too many")
    assert info.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in info.value.message
    failed = (await tg.calls("sendMessage"))[-1]
    assert failed["error"]["error_code"] == 429
    assert len(await tg.bot_messages(USER_ID)) == 3  # the refused message was not delivered


async def test_retry_after_grows_with_the_deficit(bot: Bot, tg: SandboxTelegramClient, user: object) -> None:
    await tg.configure(rate_limits=True, per_chat_rate=0.2, per_chat_burst=1)
    await bot.send_message(USER_ID, "first")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USER_ID, "second")
    assert info.value.retry_after == 5  # one message per 5 s


async def test_limits_are_per_chat(bot: Bot, tg: SandboxTelegramClient, user: object) -> None:
    await tg.create_user(USER_ID + 1, "Boris")
    await tg.configure(rate_limits=True, per_chat_burst=1, global_burst=100, global_rate=100)
    await bot.send_message(USER_ID, "to Anna")
    await bot.send_message(USER_ID + 1, "to Boris")  # another chat has its own budget
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER_ID, "to Anna again")


async def test_global_limit_applies_across_chats(bot: Bot, tg: SandboxTelegramClient) -> None:
    for n in range(6):
        await tg.create_user(2000 + n, f"User{n}")
    await tg.configure(rate_limits=True, per_chat_burst=5, global_rate=30, global_burst=5)
    for n in range(5):
        await bot.send_message(2000 + n, "broadcast")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(2005, "broadcast")
    assert info.value.retry_after >= 1


async def test_edits_count_against_the_chat_budget(bot: Bot, tg: SandboxTelegramClient, user: object) -> None:
    message = await bot.send_message(USER_ID, "progress 0%")
    await tg.configure(rate_limits=True, per_chat_burst=2)
    await bot.edit_message_text("progress 10%", chat_id=USER_ID, message_id=message.message_id)
    await bot.edit_message_text("progress 20%", chat_id=USER_ID, message_id=message.message_id)
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_text("progress 30%", chat_id=USER_ID, message_id=message.message_id)


async def test_switching_limits_off_lifts_throttling(
    bot: Bot, tg: SandboxTelegramClient, emu: Emulator, user: object
) -> None:
    await tg.configure(rate_limits=True, per_chat_burst=1)
    await bot.send_message(USER_ID, "one")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER_ID, "two")
    config = await tg.configure(rate_limits=False)
    assert config["rate_limits"] is False and emu.config.rate_limits.enabled is False
    await bot.send_message(USER_ID, "three")
