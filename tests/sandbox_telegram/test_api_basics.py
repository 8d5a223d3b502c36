"""Bot API envelope, authentication, parameter transports, validation errors and bot/chat settings."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    MenuButtonCommands,
    MenuButtonWebApp,
    WebAppInfo,
)

from aistudio.sandbox.telegram import DEFAULT_TOKEN

from .conftest import USER_ID, make_bot, raw_call


async def test_get_me_describes_the_emulated_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot is True
    assert me.id == int(DEFAULT_TOKEN.split(":")[0])
    assert me.username == "aistudio_sandbox_bot"


async def test_wrong_token_is_unauthorized(base_url: str) -> None:
    wrong = make_bot(base_url, token="123:wrong-token")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await wrong.get_me()
    finally:
        await wrong.session.close()


async def test_unknown_method_is_not_found(http: aiohttp.ClientSession, base_url: str) -> None:
    status, body = await raw_call(http, base_url, "sendTelepathy", chat_id=1)
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_aiogram_raises_not_found_for_unknown_method(bot: Bot, base_url: str) -> None:
    class SendTelepathy(SendMessage):
        __api_method__ = "sendTelepathy"

    with pytest.raises(TelegramNotFound):
        await bot(SendTelepathy(chat_id=1, text="hi"))


async def test_method_names_are_case_insensitive(http: aiohttp.ClientSession, base_url: str) -> None:
    status, body = await raw_call(http, base_url, "GETME")
    assert status == 200
    assert body["ok"] is True and body["result"]["is_bot"] is True


async def test_parameters_accepted_as_query_json_and_form(
    http: aiohttp.ClientSession, base_url: str, user: dict[str, Any]
) -> None:
    url = f"{base_url}/bot{DEFAULT_TOKEN}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with http.get(url, params={"chat_id": USER_ID, "text": "via query"}) as resp:
        assert (await resp.json())["result"]["text"] == "via query"
    async with http.post(url, json={"chat_id": USER_ID, "text": "via json", "reply_markup": markup}) as resp:
        result = (await resp.json())["result"]
        assert result["text"] == "via json"
        assert result["reply_markup"] == markup
    form = {"chat_id": str(USER_ID), "text": "via form", "reply_markup": json.dumps(markup)}
    async with http.post(url, data=form) as resp:
        assert (await resp.json())["result"]["reply_markup"] == markup


async def test_text_that_looks_like_json_stays_text(bot: Bot, user: dict[str, Any]) -> None:
    for text in ("123", "true", '{"a": 1}', "[1]"):
        message = await bot.send_message(USER_ID, text)
        assert message.text == text


async def test_missing_text_is_a_telegram_bad_request(http: aiohttp.ClientSession, base_url: str, user: Any) -> None:
    status, body = await raw_call(http, base_url, "sendMessage", chat_id=USER_ID)
    assert status == 400
    assert body == {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}


async def test_missing_text_through_aiogram_raises_bad_request(bot: Bot, user: Any) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot(SendMessage.model_construct(chat_id=USER_ID))


async def test_wrongly_typed_parameter_is_rejected_by_aiogram_models(
    http: aiohttp.ClientSession, base_url: str
) -> None:
    status, body = await raw_call(http, base_url, "getUpdates", offset="not-a-number")
    assert status == 400
    assert body["description"].startswith('Bad Request: can\'t parse parameter "offset"')


async def test_malformed_reply_markup_is_rejected(http: aiohttp.ClientSession, base_url: str, user: Any) -> None:
    status, body = await raw_call(http, base_url, "sendMessage", chat_id=USER_ID, text="x", reply_markup="{oops")
    assert status == 400
    assert body["description"] == "Bad Request: can't parse reply keyboard markup JSON object"


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello?")


async def test_username_cannot_address_a_private_chat(bot: Bot, user: Any) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("@anna_test", "hello?")


async def test_get_chat_returns_full_info_of_the_private_chat(bot: Bot, user: Any) -> None:
    chat = await bot.get_chat(USER_ID)
    assert chat.type == "private"
    assert chat.first_name == "Anna"
    assert chat.username == "anna_test"


async def test_close_and_log_out_succeed(bot: Bot) -> None:
    assert await bot.log_out() is True
    assert await bot.close() is True


async def test_commands_are_stored_per_scope_and_language(bot: Bot, user: Any) -> None:
    english = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="help", description="Help"),
    ]
    russian = [BotCommand(command="start", description="Начать")]
    assert await bot.set_my_commands(english)
    assert await bot.set_my_commands(russian, language_code="ru")
    assert await bot.set_my_commands(russian, scope=BotCommandScopeChat(chat_id=USER_ID))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert await bot.get_my_commands(language_code="de") == []
    assert len(await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=USER_ID))) == 1
    assert await bot.delete_my_commands(language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == []


async def test_invalid_command_name_is_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start-Now", description="x")])


async def test_chat_menu_button_per_chat_and_default(bot: Bot, user: Any) -> None:
    web_app = MenuButtonWebApp(text="Shop", web_app=WebAppInfo(url="https://example.com/shop"))
    assert await bot.set_chat_menu_button(chat_id=USER_ID, menu_button=web_app)
    assert (await bot.get_chat_menu_button(chat_id=USER_ID)).type == "web_app"
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert (await bot.get_chat_menu_button()).type == "commands"


async def test_chat_action_is_visible_in_the_transcript(bot: Bot, tg: Any, user: Any) -> None:
    assert await bot.send_chat_action(USER_ID, "typing")
    assert (await tg.transcript(USER_ID))["chat_action"] == "typing"
    await bot.send_message(USER_ID, "done")
    assert (await tg.transcript(USER_ID))["chat_action"] is None


async def test_unknown_chat_action_is_rejected(bot: Bot, user: Any) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong parameter action in request"):
        await bot.send_chat_action(USER_ID, "dancing")


async def test_every_call_is_logged_with_result_or_error(bot: Bot, tg: Any, user: Any) -> None:
    await bot.send_message(USER_ID, "logged")
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(USER_ID, "x" * 5000)
    calls = await tg.calls("sendMessage")
    assert [c["ok"] for c in calls] == [True, False]
    assert calls[0]["params"]["text"] == "logged" and calls[0]["result"]["text"] == "logged"
    assert calls[1]["error"] == {"error_code": 400, "description": "Bad Request: message is too long"}
    assert all(c["method"] == "sendMessage" for c in calls)
