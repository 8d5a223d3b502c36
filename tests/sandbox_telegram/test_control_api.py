"""The control API: input validation (4xx), users, transcripts, waiting, call log, reset, events, blocking."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError

from aistudio.sandbox.telegram.client import SandboxError, SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator

from .conftest import PNG_1PX, USER_ID, png


async def post(http: aiohttp.ClientSession, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    async with http.post(url, json=body, **kwargs) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "first_name"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "A", "username": "no spaces allowed"}, "username"),
        ({"first_name": "A", "language_code": "Russian"}, "language_code"),
        ({"first_name": "A", "id": -5}, "id"),
        ({"first_name": "A", "nickname": "x"}, "nickname"),
    ],
)
async def test_create_user_rejects_invalid_input(
    http: aiohttp.ClientSession, base_url: str, body: dict[str, Any], field: str
) -> None:
    status, answer = await post(http, f"{base_url}/sandbox/users", body)
    assert status == 400
    assert answer["error"] == "invalid request"
    assert [d["field"] for d in answer["details"]] == [field]


async def test_control_api_wants_json(http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.post(f"{base_url}/sandbox/users", data="first_name=A") as resp:
        assert resp.status == 415
        assert "JSON" in (await resp.json())["error"]
    async with http.post(
        f"{base_url}/sandbox/users", data="{broken", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "the body is not valid JSON"


async def test_create_user_then_update_it(
    tg: SandboxTelegramClient, http: aiohttp.ClientSession, base_url: str
) -> None:
    status, created = await post(http, f"{base_url}/sandbox/users", {"id": 5, "first_name": "Ann"})
    assert status == 201 and created["created"] is True
    status, updated = await post(
        http, f"{base_url}/sandbox/users", {"id": 5, "first_name": "Anna", "language_code": "ru"}
    )
    assert status == 200 and updated["user"]["language_code"] == "ru"
    auto = await tg.create_user(first_name="Auto")
    assert auto["id"] > 5


async def test_unknown_user_is_404(http: aiohttp.ClientSession, base_url: str) -> None:
    status, answer = await post(http, f"{base_url}/sandbox/users/999/messages", {"text": "hi"})
    assert status == 404 and "POST /sandbox/users" in answer["error"]
    async with http.get(f"{base_url}/sandbox/users/abc/transcript") as resp:
        assert resp.status == 400


@pytest.mark.usefixtures("user")
async def test_message_body_is_validated(http: aiohttp.ClientSession, base_url: str) -> None:
    url = f"{base_url}/sandbox/users/{USER_ID}/messages"
    assert (await post(http, url, {"text": ""}))[0] == 400
    assert (await post(http, url, {"text": "x" * 4097}))[0] == 400
    assert (await post(http, url, {"text": "hi", "reply_to_message_id": 42}))[0] == 404


@pytest.mark.usefixtures("user")
async def test_file_message_validation(http: aiohttp.ClientSession, base_url: str) -> None:
    url = f"{base_url}/sandbox/users/{USER_ID}/messages"
    form = aiohttp.FormData()
    form.add_field("caption", "no file")
    async with http.post(url, data=form) as resp:
        assert resp.status == 400 and "file part" in (await resp.json())["error"]
    form = aiohttp.FormData()
    form.add_field("kind", "sticker")
    form.add_field("file", b"x", filename="x.bin")
    async with http.post(url, data=form) as resp:
        assert resp.status == 400 and "kind must be one of" in (await resp.json())["error"]
    form = aiohttp.FormData()
    form.add_field("photo", b"not an image", filename="x.png")
    async with http.post(url, data=form) as resp:
        assert resp.status == 400 and "photo" in (await resp.json())["error"]
    form = aiohttp.FormData()
    form.add_field("photo", PNG_1PX, filename="ok.png", content_type="image/png")
    async with http.post(url, data=form) as resp:
        assert resp.status == 201 and (await resp.json())["message"]["photo"][0]["width"] == 1


@pytest.mark.usefixtures("user")
async def test_press_validation_and_unknown_button(
    http: aiohttp.ClientSession, base_url: str, bot: Bot, tg: SandboxTelegramClient
) -> None:
    url = f"{base_url}/sandbox/users/{USER_ID}/press"
    status, answer = await post(http, url, {"message_id": 1})
    assert status == 400 and "text or callback_data" in answer["details"][0]["message"]
    assert (await post(http, url, {"message_id": 5, "text": "A"}))[0] == 404
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    status, answer = await post(http, url, {"message_id": message.message_id, "text": "B"})
    assert status == 404 and answer["available"] == [{"text": "A", "callback_data": "a"}]
    assert (await post(http, url, {"message_id": message.message_id, "text": "A", "wait": 99}))[0] == 400


@pytest.mark.usefixtures("user")
async def test_pay_validation(http: aiohttp.ClientSession, base_url: str, bot: Bot) -> None:
    url = f"{base_url}/sandbox/users/{USER_ID}/pay"
    status, answer = await post(http, url, {})
    assert status == 400 and "exactly one" in answer["details"][0]["message"]
    text = await bot.send_message(USER_ID, "not an invoice")
    status, answer = await post(http, url, {"message_id": text.message_id})
    assert status == 400 and "not an invoice" in answer["error"]
    assert (await post(http, url, {"invoice_link": "https://t.me/$nope"}))[0] == 404


@pytest.mark.usefixtures("user")
async def test_wait_needs_exactly_one_reference(http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/sandbox/users/{USER_ID}/wait") as resp:
        assert resp.status == 400
    async with http.get(
        f"{base_url}/sandbox/users/{USER_ID}/wait", params={"after_version": 1, "timeout": 999}
    ) as resp:
        assert resp.status == 400


@pytest.mark.usefixtures("user")
async def test_wait_for_reply_times_out_cleanly(tg: SandboxTelegramClient) -> None:
    sent = await tg.send_text(USER_ID, "anyone?")
    with pytest.raises(TimeoutError):
        await tg.wait_for_reply(USER_ID, after_message_id=sent["message_id"], timeout=0.05)


@pytest.mark.usefixtures("user")
async def test_wait_returns_when_the_bot_replies(tg: SandboxTelegramClient, bot: Bot) -> None:
    sent = await tg.send_text(USER_ID, "ping")
    waiter = asyncio.create_task(tg.wait_for_reply(USER_ID, timeout=5))
    await asyncio.sleep(0.005)
    await bot.send_message(USER_ID, "pong")
    reply = await waiter
    assert reply["text"] == "pong" and reply["message_id"] > sent["message_id"]


@pytest.mark.usefixtures("user")
async def test_wait_for_change_sees_edits(tg: SandboxTelegramClient, bot: Bot) -> None:
    message = await bot.send_message(USER_ID, "0%")
    version = (await tg.transcript(USER_ID))["version"]
    waiter = asyncio.create_task(tg.wait_for_change(USER_ID, version))
    await bot.edit_message_text("50%", chat_id=USER_ID, message_id=message.message_id)
    changed = await waiter
    assert [m["text"] for m in changed["messages"]] == ["50%"] and changed["version"] > version


@pytest.mark.usefixtures("user")
async def test_calls_can_be_filtered(tg: SandboxTelegramClient, bot: Bot) -> None:
    await bot.get_me()
    await bot.send_message(USER_ID, "a")
    await bot.send_chat_action(USER_ID, "typing")
    assert [c["method"] for c in await tg.calls()] == ["getMe", "sendMessage", "sendChatAction"]
    assert [c["method"] for c in await tg.calls("sendchataction,GETME")] == ["getMe", "sendChatAction"]
    last = (await tg.calls())[-1]["seq"]
    await bot.send_message(USER_ID, "b")
    assert [c["params"]["text"] for c in await tg.calls(since=last)] == ["b"]


@pytest.mark.usefixtures("user")
async def test_reset_forgets_users_messages_and_calls(tg: SandboxTelegramClient, bot: Bot, emu: Emulator) -> None:
    await bot.send_message(USER_ID, "before")
    pending = await tg.send_text(USER_ID, "pending update")
    await tg.reset()
    assert await tg.calls() == []
    with pytest.raises(SandboxError) as info:
        await tg.transcript(USER_ID)
    assert info.value.status == 404
    assert await bot.get_updates() == []
    await tg.create_user(USER_ID, "Anna")
    sent = await tg.send_text(USER_ID, "after")
    assert sent["message_id"] == 1 and sent["update_id"] > pending["update_id"]  # update ids keep increasing


async def test_config_validation(http: aiohttp.ClientSession, base_url: str) -> None:
    assert (await post(http, f"{base_url}/sandbox/config", {"per_chat_rate": 0}))[0] == 400
    assert (await post(http, f"{base_url}/sandbox/config", {"rate_limit": True}))[0] == 400
    status, config = await post(http, f"{base_url}/sandbox/config", {"rate_limits": True, "per_chat_burst": 2})
    assert status == 200 and config["rate_limits"] is True and config["per_chat_burst"] == 2


@pytest.mark.usefixtures("user")
async def test_blocking_the_bot_makes_sends_forbidden(tg: SandboxTelegramClient, bot: Bot) -> None:
    result = await tg.block(USER_ID)
    assert result["blocked"] is True
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "promo")
    updates = await bot.get_updates()
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    with pytest.raises(SandboxError) as info:
        await tg.send_text(USER_ID, "hi")
    assert info.value.status == 409
    await tg.block(USER_ID, blocked=False)
    await bot.send_message(USER_ID, "welcome back")


@pytest.mark.usefixtures("user")
async def test_events_stream_announces_changes(http: aiohttp.ClientSession, base_url: str, bot: Bot) -> None:
    async with http.get(f"{base_url}/sandbox/events", params={"user_id": USER_ID}) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        hello = json.loads((await resp.content.readline()).decode().removeprefix("data: "))
        await resp.content.readline()
        await bot.send_message(USER_ID, "news")
        line = await asyncio.wait_for(resp.content.readline(), 5)
        event = json.loads(line.decode().removeprefix("data: "))
    assert event["chat_id"] == USER_ID and event["version"] > hello["version"]


@pytest.mark.usefixtures("user")
async def test_transcript_shows_media_keyboard_invoice_and_commands(tg: SandboxTelegramClient, bot: Bot) -> None:
    from aiogram.types import BotCommand, BufferedInputFile, LabeledPrice

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.send_photo(
        USER_ID,
        BufferedInputFile(png(5, 5), "p.png"),
        caption="pic",
        reply_markup={"inline_keyboard": [[{"text": "Site", "url": "https://example.com"}]]},
    )
    await bot.send_invoice(
        USER_ID,
        title="T",
        description="D",
        payload="p1",
        currency="XTR",
        prices=[LabeledPrice(label="x", amount=5)],
    )
    transcript = await tg.transcript(USER_ID)
    photo, invoice = transcript["messages"]
    assert photo["media"]["kind"] == "photo" and photo["media"]["file_url"].startswith("/sandbox/files/")
    assert photo["caption"] == "pic" and photo["keyboard"]["rows"] == [[{"text": "Site", "url": "https://example.com"}]]
    assert invoice["invoice"]["total_amount"] == 5 and invoice["invoice"]["paid"] is False
    assert transcript["commands"] == [{"command": "start", "description": "Start"}]
    assert await tg.file_bytes(photo["media"]["file_url"]) == png(5, 5)


async def test_bot_info_and_users_list(tg: SandboxTelegramClient, http: aiohttp.ClientSession, base_url: str) -> None:
    await tg.create_user(7, "Seven")
    info = await tg.bot()
    assert info["bot"]["is_bot"] is True and info["webhook"]["url"] == ""
    async with http.get(f"{base_url}/sandbox/users") as resp:
        users = (await resp.json())["users"]
    assert [u["user"]["id"] for u in users] == [7]


async def test_unknown_file_is_404(http: aiohttp.ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/sandbox/files/nope") as resp:
        assert resp.status == 404
