"""Webhook intake: the secret header, each update recorded before it is handled and handled before 200,
duplicates ignored, a database that cannot record answered with 503, and a graceful drain."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from aistudio.app import AppParts
from aistudio.db.tables import processed_updates
from aistudio.ops.runner import check_run_settings
from aistudio.web.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.ops.apps import WEBHOOK_SECRET, built_app, command_update
from tests.ops.procs import BotProcess, Emulator, bot_env, free_port


class Hook:
    def __init__(self, parts: AppParts, url: str, telegram: Emulator) -> None:
        self.parts = parts
        self.url = url + WEBHOOK_PATH
        self.tg = telegram.tg

    async def post(self, update: dict[str, Any], *, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(self.url, json=update, headers=headers)

    async def replies(self, user_id: int) -> int:
        return len(await self.tg.bot_messages(user_id))

    async def statuses(self) -> dict[int, str]:
        async with self.parts.engine.connect() as conn:
            rows = await conn.execute(sa.select(processed_updates.c.update_id, processed_updates.c.status))
            return dict(rows.all())


@pytest.fixture
async def hook(database_url: str, telegram: Emulator, tmp_path: Path) -> AsyncIterator[Hook]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with built_app(
        database_url, telegram.url, tmp_path, webhook_base_url=base, webhook_secret=WEBHOOK_SECRET
    ) as parts:
        server = TestServer(parts.web_app, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            yield Hook(parts, base, telegram)
        finally:
            await server.close()


async def test_requests_without_the_right_secret_token_get_401_and_are_not_recorded(hook: Hook) -> None:
    await hook.tg.create_user(901, first_name="Anna", language_code="en")

    missing = await hook.post(command_update(1, 901), secret=None)
    wrong = await hook.post(command_update(1, 901), secret="not-the-secret")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert await hook.statuses() == {}
    assert await hook.replies(901) == 0


async def test_an_update_is_handled_before_200_and_a_second_delivery_is_acknowledged_and_ignored(hook: Hook) -> None:
    await hook.tg.create_user(902, first_name="Anna", language_code="en")

    first = await hook.post(command_update(10, 902))
    replies_when_acknowledged = await hook.replies(902)  # no waiting: the answer exists before the 200
    again = await hook.post(command_update(10, 902))

    assert first.status_code == 200 and first.json() == {"ok": True}
    assert replies_when_acknowledged >= 1
    assert again.status_code == 200 and again.json().get("duplicate") is True
    assert await hook.replies(902) == replies_when_acknowledged
    assert (await hook.statuses())[10] == "handled"


async def test_concurrent_deliveries_of_one_update_are_handled_once(hook: Hook) -> None:
    await hook.tg.create_user(903, first_name="Anna", language_code="en")
    await hook.post(command_update(20, 903))
    per_start = await hook.replies(903)

    answers = await asyncio.gather(*(hook.post(command_update(21, 903)) for _ in range(6)))
    codes = sorted(a.status_code for a in answers)
    # Whatever answered 503 ("being handled") comes again later, as Telegram does, and is then ignored.
    for _ in range(50):
        if all(a.status_code == 200 for a in answers):
            break
        answers = [a if a.status_code == 200 else await hook.post(command_update(21, 903)) for a in answers]
        await asyncio.sleep(0.05)

    handled = [a for a in answers if a.json() == {"ok": True}]
    assert set(codes) <= {200, 503}
    assert len(handled) == 1
    assert all(a.status_code == 200 for a in answers)
    assert await hook.replies(903) == 2 * per_start


async def test_an_update_that_cannot_be_recorded_gets_503_and_is_handled_when_delivered_again(hook: Hook) -> None:
    await hook.tg.create_user(904, first_name="Anna", language_code="en")

    def database_down(statement: str) -> None:
        raise OSError("connection refused")

    hook.parts.updates.db.fault = database_down
    refused = await hook.post(command_update(30, 904))
    replies_while_down = await hook.replies(904)
    hook.parts.updates.db.fault = None
    redelivered = await hook.post(command_update(30, 904))

    assert refused.status_code == 503
    assert replies_while_down == 0  # not handled: it could not be recorded first
    assert redelivered.status_code == 200 and redelivered.json() == {"ok": True}
    assert await hook.replies(904) >= 1
    assert (await hook.statuses())[30] == "handled"


async def test_shutdown_refuses_new_updates_and_lets_the_ones_in_flight_finish(hook: Hook) -> None:
    await hook.tg.create_user(905, first_name="Anna", language_code="en")
    intake = hook.parts.webhook
    assert intake is not None
    release, entered = asyncio.Event(), asyncio.Event()
    real_feed = intake.dispatcher.feed_update

    class SlowDispatcher:
        def __getattr__(self, name: str) -> Any:
            return getattr(hook.parts.dispatcher, name)

        async def feed_update(self, bot: Any, update: Any, **kwargs: Any) -> Any:
            entered.set()
            await release.wait()
            return await real_feed(bot, update, **kwargs)

    intake.dispatcher = SlowDispatcher()  # type: ignore[assignment]
    in_flight = asyncio.create_task(hook.post(command_update(40, 905)))
    await asyncio.wait_for(entered.wait(), 10)
    draining = asyncio.create_task(intake.drain(10))
    await asyncio.sleep(0.05)
    refused = await hook.post(command_update(41, 905))
    drained_early = draining.done()
    release.set()

    assert refused.status_code == 503
    assert not drained_early
    assert await draining is True
    assert (await in_flight).status_code == 200
    assert await hook.replies(905) >= 1
    assert 41 not in await hook.statuses()


def test_webhook_mode_refuses_to_start_without_a_valid_secret() -> None:
    from aistudio.config import load_settings

    base = {"telegram_bot_token": "1:x", "webhook_base_url": "https://bot.example.com"}
    missing = check_run_settings(load_settings(**base, webhook_secret=None))
    bad = check_run_settings(load_settings(**base, webhook_secret="has spaces!"))
    good = check_run_settings(load_settings(**base, webhook_secret="A-good_secret1"))

    assert len(missing) == 1 and missing[0].startswith("WEBHOOK_SECRET")
    assert len(bad) == 1 and "A-Z" in bad[0]
    assert good == []


async def test_aistudio_run_in_webhook_mode_registers_the_webhook_and_answers_users(
    sqlite_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    """The run mode's wiring (PostgreSQL replicas: test_replicas.py)."""
    port = free_port()
    env = bot_env(
        sqlite_url, telegram.url, port, WEBHOOK_BASE_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET=WEBHOOK_SECRET
    )
    bot = await BotProcess("webhook", env, tmp_path / "webhook.log").start()
    try:
        ready = await bot.wait_ready(role="active")
        await telegram.tg.create_user(906, first_name="Anna", language_code="en")
        sent = await telegram.tg.send_text(906, "/start")
        reply = await telegram.tg.wait_for_reply(906, after_message_id=sent["message_id"], timeout=30)
        info = (await telegram.tg.bot())["webhook"]
        set_calls = await telegram.tg.calls("setWebhook")
        code = await bot.stop(signal.SIGTERM)
        info_after = (await telegram.tg.bot())["webhook"]
    finally:
        await bot.kill()

    assert ready["mode"] == "webhook"
    assert reply["text"]
    assert info["url"] == f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    assert "message" in info["allowed_updates"] and "callback_query" in info["allowed_updates"]
    assert set_calls[-1]["params"]["secret_token"] == WEBHOOK_SECRET
    assert code == 0
    assert info_after["url"] == info["url"]  # a replica stopping leaves the webhook to the others
    assert WEBHOOK_SECRET not in bot.text()


async def test_set_webhook_is_retried_with_backoff_and_honours_flood_control() -> None:
    from types import SimpleNamespace

    from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
    from aiogram.methods import SetWebhook

    from aistudio.config import load_settings
    from aistudio.ops.runner import set_webhook

    calls: list[dict[str, Any]] = []
    failures = [
        TelegramNetworkError(SetWebhook(url="x"), "connection reset"),
        TelegramRetryAfter(SetWebhook(url="x"), "Too Many Requests", retry_after=0),
        TelegramNetworkError(SetWebhook(url="x"), "connection reset"),
    ]

    async def fake_set_webhook(**params: Any) -> bool:
        calls.append(params)
        if failures:
            raise failures.pop(0)
        return True

    settings = load_settings(
        telegram_bot_token="1:x", webhook_base_url="https://bot.example.com", webhook_secret=WEBHOOK_SECRET
    )
    dispatcher = SimpleNamespace(resolve_used_update_types=lambda: ["callback_query", "message"])
    parts = SimpleNamespace(settings=settings, dispatcher=dispatcher, bot=SimpleNamespace(set_webhook=fake_set_webhook))

    ok = await asyncio.wait_for(set_webhook(parts, asyncio.Event(), first_delay=0.01), 5)  # type: ignore[arg-type]

    assert ok and len(calls) == 4
    assert calls[-1] == {
        "url": "https://bot.example.com/telegram/webhook",
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": ["callback_query", "message"],
        "max_connections": 40,
        "drop_pending_updates": False,
    }


async def test_set_webhook_gives_up_when_stopping() -> None:
    from types import SimpleNamespace

    from aistudio.config import load_settings
    from aistudio.ops.runner import set_webhook

    async def always_down(**params: Any) -> bool:
        raise OSError("network unreachable")

    settings = load_settings(
        telegram_bot_token="1:x", webhook_base_url="https://bot.example.com", webhook_secret=WEBHOOK_SECRET
    )
    parts = SimpleNamespace(
        settings=settings,
        dispatcher=SimpleNamespace(resolve_used_update_types=lambda: ["message"]),
        bot=SimpleNamespace(set_webhook=always_down),
    )
    stop = asyncio.Event()
    attempt = asyncio.create_task(set_webhook(parts, stop, first_delay=0.05))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    stop.set()

    assert await asyncio.wait_for(attempt, 5) is False
