"""Update delivery: getUpdates long polling (offset, limit, timeout, allowed_updates) and webhooks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.filters import CommandStart
from aiogram.types import Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator

from .conftest import USER_ID, serve, until

pytestmark = pytest.mark.usefixtures("user")


async def test_offset_confirms_earlier_updates(bot: Bot, tg: SandboxTelegramClient) -> None:
    for text in ("a", "b", "c"):
        await tg.send_text(USER_ID, text)
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["a", "b", "c"]
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    again = await bot.get_updates(offset=updates[1].update_id)
    assert [u.message.text for u in again if u.message] == ["b", "c"]
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == []


async def test_limit_caps_the_batch(bot: Bot, tg: SandboxTelegramClient) -> None:
    for i in range(5):
        await tg.send_text(USER_ID, str(i))
    assert len(await bot.get_updates(limit=2)) == 2
    assert len(await bot.get_updates(limit=1000)) == 5  # Telegram clamps to 100, all 5 fit


async def test_negative_offset_keeps_only_the_latest(bot: Bot, tg: SandboxTelegramClient) -> None:
    for i in range(4):
        await tg.send_text(USER_ID, str(i))
    updates = await bot.get_updates(offset=-1)
    assert [u.message.text for u in updates if u.message] == ["3"]


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    bot: Bot, tg: SandboxTelegramClient, emu: Emulator
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await until(lambda: emu.hub.polling)
    assert not poll.done()
    await tg.send_text(USER_ID, "wake up")
    updates = await asyncio.wait_for(poll, 5)
    assert updates[0].message and updates[0].message.text == "wake up"
    assert loop.time() - started < 5


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == []


async def test_second_poller_terminates_the_first_with_conflict(bot: Bot, emu: Emulator) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=20))
    await until(lambda: emu.hub.polling)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 5)
    assert await second == []


async def test_allowed_updates_filters_update_types(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(
        USER_ID, "x", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    await bot.get_updates(allowed_updates=["callback_query"])
    await tg.send_text(USER_ID, "ignored")
    await tg.press(USER_ID, message.message_id, callback_data="a")
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates if u.callback_query] == ["a"]
    assert all(u.message is None for u in updates)


async def test_get_updates_while_webhook_is_set_is_a_conflict(bot: Bot) -> None:
    assert await bot.set_webhook("https://bot.example.com/hook")
    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_set_webhook_validates_like_telegram(bot: Bot, emu: Emulator) -> None:
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("https://bot.example.com/hook", secret_token="bad token!")
    emu.hub.require_https = True
    with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided for webhook"):
        await bot.set_webhook("http://bot.example.com/hook")


class WebhookReceiver:
    """A tiny webhook endpoint recording what Telegram (the emulator) posts to it."""

    def __init__(self, statuses: list[int] | None = None, reply: dict[str, Any] | None = None) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.statuses = list(statuses or [])
        self.reply = reply
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/hook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        if self.reply is not None and status == 200:
            return web.json_response(self.reply)
        return web.Response(status=status)

    async def wait_for(self, count: int) -> None:
        while len(self.received) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


async def test_webhook_delivery_carries_the_secret_token(bot: Bot, tg: SandboxTelegramClient) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver.app) as url:
        assert await bot.set_webhook(f"{url}/hook", secret_token="s3cr3t_token")
        await tg.send_text(USER_ID, "via webhook")
        await receiver.wait_for(1)
        update, secret = receiver.received[0]
        assert secret == "s3cr3t_token"
        assert update["message"]["text"] == "via webhook"
        info = await bot.get_webhook_info()
        assert info.url == f"{url}/hook" and info.pending_update_count == 0


async def test_failed_webhook_delivery_is_retried_and_reported(bot: Bot, tg: SandboxTelegramClient) -> None:
    receiver = WebhookReceiver(statuses=[500])
    async with serve(receiver.app) as url:
        await bot.set_webhook(f"{url}/hook")
        await tg.send_text(USER_ID, "retry me")
        await receiver.wait_for(2)
        first, second = (update for update, _ in receiver.received)
        assert first["update_id"] == second["update_id"]  # the same update arrives twice
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_method_in_webhook_response_is_executed(bot: Bot, tg: SandboxTelegramClient) -> None:
    receiver = WebhookReceiver(reply={"method": "sendMessage", "chat_id": USER_ID, "text": "answered inline"})
    async with serve(receiver.app) as url:
        await bot.set_webhook(f"{url}/hook")
        sent = await tg.send_text(USER_ID, "hi")
        reply = await tg.wait_for_reply(USER_ID, after_message_id=sent["message_id"])
        assert reply["text"] == "answered inline"


async def test_delete_webhook_can_drop_pending_updates(bot: Bot, tg: SandboxTelegramClient) -> None:
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    await tg.send_text(USER_ID, "stuck")
    assert (await bot.get_webhook_info()).pending_update_count == 1
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


async def test_webhook_update_is_valid_json_for_aiogram(bot: Bot, tg: SandboxTelegramClient) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver.app) as url:
        await bot.set_webhook(f"{url}/hook")
        await tg.send_text(USER_ID, "/start")
        await receiver.wait_for(1)
    update = Update.model_validate(json.loads(json.dumps(receiver.received[0][0])))
    assert update.message and update.message.text == "/start"


def webhook_app(bot: Bot, secret: str) -> web.Application:
    """aiogram's own webhook handler, answering /start by returning a method in the response body."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> Any:
        return message.answer("hi from the webhook response")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=secret, handle_in_background=False).register(app, path="/hook")
    return app


async def test_aiogram_webhook_handler_round_trip(bot: Bot, tg: SandboxTelegramClient) -> None:
    async with serve(webhook_app(bot, "topsecret")) as url:
        await bot.set_webhook(f"{url}/hook", secret_token="topsecret")
        sent = await tg.send_text(USER_ID, "/start")
        reply = await tg.wait_for_reply(USER_ID, after_message_id=sent["message_id"])
        assert reply["text"] == "hi from the webhook response"
        assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_wrong_secret_is_rejected_by_aiogram_and_retried(
    bot: Bot, tg: SandboxTelegramClient, emu: Emulator
) -> None:
    async with serve(webhook_app(bot, "expected")) as url:
        await bot.set_webhook(f"{url}/hook", secret_token="different")
        await tg.send_text(USER_ID, "/start")
        await until(lambda: emu.hub.webhook is not None and emu.hub.webhook.last_error_message is not None)
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
        assert info.pending_update_count == 1
        assert await tg.bot_messages(USER_ID) == []
