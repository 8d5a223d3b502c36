"""Fixtures: a real emulator on 127.0.0.1 (random port), a real aiogram Bot talking to it over HTTP,
and the control-API client acting as users."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from aistudio.sandbox.telegram import DEFAULT_TOKEN, EmulatorConfig, create_app, emulator_of
from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.emulator import Emulator

USER_ID = 1001
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def png(width: int = 4, height: int = 3, color: str = "red") -> bytes:
    """A real PNG image of the given size."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class QuickCloseSession(AiohttpSession):
    """aiogram's real aiohttp session; only close() skips the 250 ms pause meant for TLS connections."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
def config() -> EmulatorConfig:
    """Emulator configuration; tests may tweak it before the server fixture starts."""
    return EmulatorConfig(webhook_retry_delay=0.05)


@pytest.fixture
async def server(config: EmulatorConfig) -> AsyncIterator[TestServer]:
    """The emulator app served on 127.0.0.1 with a free port."""
    test_server = TestServer(create_app(config), host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
def base_url(server: TestServer) -> str:
    """Base URL of the emulator (what the bot's ``telegram_api_base`` would point at)."""
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def emu(server: TestServer) -> Emulator:
    """The emulator object behind the server (for direct state checks)."""
    return emulator_of(server.app)


def make_bot(base_url: str, token: str = DEFAULT_TOKEN, **kwargs: Any) -> Bot:
    """A real aiogram Bot whose API server is the emulator."""
    return Bot(token, session=QuickCloseSession(api=TelegramAPIServer.from_base(base_url)), **kwargs)


@pytest.fixture
async def bot(base_url: str) -> AsyncIterator[Bot]:
    """aiogram Bot talking to the emulator over HTTP."""
    instance = make_bot(base_url)
    yield instance
    await instance.session.close()


@pytest.fixture
async def tg(base_url: str) -> AsyncIterator[SandboxTelegramClient]:
    """Control-API client acting as users."""
    async with SandboxTelegramClient(base_url) as client:
        yield client


@pytest.fixture
async def user(tg: SandboxTelegramClient) -> dict[str, Any]:
    """A user who has opened the chat with the bot."""
    return await tg.create_user(USER_ID, "Anna", username="anna_test", language_code="en")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client for raw Bot API and control API requests."""
    async with aiohttp.ClientSession() as session:
        yield session


async def raw_call(
    http: aiohttp.ClientSession, base_url: str, method: str, *, token: str = DEFAULT_TOKEN, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST a urlencoded Bot API call with exactly these parameters; return (status, JSON body)."""
    async with http.post(f"{base_url}/bot{token}/{method}", data=params) as resp:
        return resp.status, await resp.json()


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Wait (in 1 ms steps) until ``condition()`` holds: for server-side states with no event to await."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve a helper app (a webhook receiver, a file host) on 127.0.0.1; yield its base URL."""
    helper = TestServer(app, host="127.0.0.1", port=0)
    await helper.start_server()
    try:
        yield str(helper.make_url("")).rstrip("/")
    finally:
        await helper.close()


@contextlib.asynccontextmanager
async def polling(bot: Bot, emu: Emulator, *routers: Router) -> AsyncIterator[Dispatcher]:
    """Run an aiogram Dispatcher long-polling the emulator until the block ends."""
    dispatcher = Dispatcher()
    dispatcher.include_routers(*routers)
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False))
    await until(lambda: emu.hub.polling)  # the dispatcher is now waiting in getUpdates
    try:
        yield dispatcher
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(task, 5)
