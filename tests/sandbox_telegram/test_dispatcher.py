"""A real aiogram Dispatcher polling the emulator, and callback queries end to end."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator
from aistudio.sandbox.telegram.errors import QUERY_TOO_OLD

from .conftest import USER_ID, polling

pytestmark = pytest.mark.usefixtures("user")


def menu_router() -> Router:
    """/start shows a menu with a callback button and a URL button; the callback edits the menu."""
    router = Router()
    menu = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Balance", callback_data="balance")],
            [InlineKeyboardButton(text="Docs", url="https://example.com/docs")],
        ]
    )

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            f"Hello, {message.from_user.first_name if message.from_user else 'you'}!", reply_markup=menu
        )

    @router.callback_query(F.data == "balance")
    async def balance(query: CallbackQuery) -> None:
        await query.answer("Balance: 0 ₽")
        if isinstance(query.message, Message):
            await query.message.edit_text("Your balance is 0 ₽")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return router


async def test_dispatcher_round_trip_start_press_and_edit(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    async with polling(bot, emu, menu_router()):
        sent = await tg.send_text(USER_ID, "/start")
        menu = await tg.wait_for_reply(USER_ID, after_message_id=sent["message_id"])
        assert menu["text"] == "Hello, Anna!"
        assert menu["keyboard"]["rows"] == [
            [{"text": "Balance", "callback_data": "balance"}],
            [{"text": "Docs", "url": "https://example.com/docs"}],
        ]
        pressed = await tg.press(USER_ID, menu["message_id"], text="Balance", wait=5)
        assert pressed["answered"] is True
        assert pressed["answer"]["text"] == "Balance: 0 ₽"
        transcript = await tg.wait_until(USER_ID, lambda t: t["messages"][-1]["edited"])
    final = transcript["messages"][-1]
    assert final["text"] == "Your balance is 0 ₽" and final["keyboard"] is None
    assert [m["direction"] for m in transcript["messages"]] == ["in", "out"]
    methods = [c["method"] for c in await tg.calls() if c["method"] != "getUpdates"]
    assert methods == ["getMe", "sendMessage", "answerCallbackQuery", "editMessageText"]


async def test_url_button_press_opens_the_link_without_an_update(
    bot: Bot, tg: SandboxTelegramClient, emu: Emulator
) -> None:
    async with polling(bot, emu, menu_router()):
        sent = await tg.send_text(USER_ID, "/start")
        menu = await tg.wait_for_reply(USER_ID, after_message_id=sent["message_id"])
        pressed = await tg.press(USER_ID, menu["message_id"], text="Docs")
    assert pressed == {"kind": "url", "url": "https://example.com/docs"}


async def test_reply_keyboard_press_sends_the_button_text(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    keyboard = {"keyboard": [[{"text": "Help"}]], "one_time_keyboard": True, "resize_keyboard": True}
    await bot.send_message(USER_ID, "choose", reply_markup=keyboard)
    async with polling(bot, emu, menu_router()):
        pressed = await tg.press(USER_ID, text="Help")
        assert pressed["kind"] == "reply_keyboard"
        echo = await tg.wait_for_reply(USER_ID, after_message_id=pressed["message_id"])
    assert echo["text"] == "Help"
    assert (await tg.transcript(USER_ID))["reply_keyboard"] is None  # one-time keyboards hide after use


async def test_answering_a_callback_query_twice_fails(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    pressed = await tg.press(USER_ID, message.message_id, callback_data="a")
    assert await bot.answer_callback_query(pressed["callback_query_id"], text="first") is True
    with pytest.raises(TelegramBadRequest) as info:
        await bot.answer_callback_query(pressed["callback_query_id"], text="second")
    assert info.value.message == f"Bad Request: {QUERY_TOO_OLD}"


async def test_answering_a_callback_query_too_late_fails(bot: Bot, tg: SandboxTelegramClient, emu: Emulator) -> None:
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    pressed = await tg.press(USER_ID, message.message_id, callback_data="a")
    emu.state.callbacks[pressed["callback_query_id"]].created -= emu.config.callback_query_ttl + 1
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(pressed["callback_query_id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345")


async def test_callback_query_update_carries_the_message_and_data(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a:1"}]]}
    )
    pressed = await tg.press(USER_ID, message.message_id, text="A")
    updates = await bot.get_updates()
    query = updates[-1].callback_query
    assert query is not None and query.id == pressed["callback_query_id"]
    assert query.data == "a:1" and query.from_user.id == USER_ID
    assert isinstance(query.message, Message) and query.message.message_id == message.message_id


async def test_press_without_answer_reports_unanswered(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    pressed: dict[str, Any] = await tg.press(USER_ID, message.message_id, text="A", wait=0.05)
    assert pressed["answered"] is False and pressed["answer"] is None
