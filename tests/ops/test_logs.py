"""Structured logs: JSON lines with the ids of what is being handled, and no configured secret, ever."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aistudio.app import callback_secret
from aistudio.config import load_settings
from aistudio.generation.states import State
from aistudio.ops.logs import (
    QUIET_LOGGERS,
    REDACTED,
    SecretRedactor,
    configure_logging,
    generation_context,
    secrets_of,
    set_update_context,
)
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from tests.e2e.harness import KIE_KEY, running_bot

WEBHOOK_SECRET = "e2e-webhook-secret_4f9a0c"


async def settled(service: Any, gen: Any) -> Any:
    for _ in range(400):
        gen = await service.get(gen.id)
        if gen.state in (State.COMPLETED, State.FAILED):
            return gen
        await asyncio.sleep(0.05)
    raise AssertionError(f"generation {gen.id} still {gen.state}")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        fmt="json", level="DEBUG", secrets=["sekret-token-42", "pa$$word\"x"], stream=stream
    )  # fmt: skip
    try:
        yield logging.getLogger("aistudio.test"), stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_json_line_carries_the_update_context_and_extras(captured: Any) -> None:
    log, stream, _ = captured

    async def handle_update() -> None:  # each update runs in a task of its own, as in aiogram
        set_update_context(request_id="RQ-ABCDEFGH", update_id=41, user_id=7)
        log.info("menu shown to %s", "Anna", extra={"screen": "menu"})

    asyncio.run(handle_update())
    log.info("between updates")
    entries = [e for e in lines(stream) if e["logger"] == "aistudio.test"]

    assert entries[0]["msg"] == "menu shown to Anna" and entries[0]["level"] == "info"
    assert (entries[0]["request_id"], entries[0]["update_id"], entries[0]["user_id"]) == ("RQ-ABCDEFGH", 41, 7)
    assert entries[0]["screen"] == "menu" and entries[0]["ts"].endswith("Z")
    assert "request_id" not in entries[1]  # the update's context ended with its task


def test_generation_lines_carry_the_generation_and_its_request(captured: Any) -> None:
    log, stream, _ = captured

    with generation_context(12, "RQ-23456789", 5):
        log.warning("delivery slow")
    log.warning("generation RQ-ZZZZZZZZ: status check failed")  # the worker's own lines name the request

    first, second = [e for e in lines(stream) if e["logger"] == "aistudio.test"]
    assert (first["generation_id"], first["request_id"], first["user_id"]) == (12, "RQ-23456789", 5)
    assert second["request_id"] == "RQ-ZZZZZZZZ" and "generation_id" not in second


def test_secrets_are_redacted_from_messages_arguments_tracebacks_and_extras(captured: Any) -> None:
    log, stream, _ = captured

    log.info("calling https://api.telegram.org/botsekret-token-42/getMe")
    log.info("key %s and %r", "sekret-token-42", {"password": 'pa$$word"x'})
    try:
        raise RuntimeError("auth failed for sekret-token-42")
    except RuntimeError:
        log.exception("request failed", extra={"url": "https://x/?k=sekret-token-42"})
    log.info("quoted %s", "pa%24%24word%22x")

    text = stream.getvalue()
    assert "sekret-token-42" not in text and "pa$$word" not in text and "pa%24%24word" not in text
    assert text.count(REDACTED) >= 6
    assert "RuntimeError" in text  # the traceback itself is kept


def test_the_text_format_is_for_people(captured: Any) -> None:
    stream = io.StringIO()
    handler = configure_logging(fmt="text", level="INFO", secrets=["sekret-token-42"], stream=stream)
    set_update_context(request_id="RQ-ABCDEFGH", update_id=3, user_id=9)
    logging.getLogger("aistudio.test").info("hello sekret-token-42")
    set_update_context(request_id=None, update_id=None, user_id=None)
    logging.getLogger().removeHandler(handler)

    assert "INFO aistudio.test [RQ-ABCDEFGH upd=3 user=9]: hello [redacted]" in stream.getvalue()


def test_every_configured_secret_is_known_to_the_redactor() -> None:
    settings = load_settings(
        telegram_bot_token="123456:AAbbCCddEEffGGhh",
        kie_api_key="kie-key-123456",
        webhook_secret="hook-secret-1",
        kie_callback_hmac_key="hmac-key-123",
        metrics_token="metrics-token-1",
        database_url="postgresql+asyncpg://bot:db-password-9@db:5432/aistudio",
        redis_url="redis://:redis-password-7@redis:6379/0",
    )

    found = set(secrets_of(settings, [callback_secret(settings)]))
    redactor = SecretRedactor(found)

    assert {
        "123456:AAbbCCddEEffGGhh", "AAbbCCddEEffGGhh", "kie-key-123456", "hook-secret-1", "hmac-key-123",
        "metrics-token-1", "db-password-9", "redis-password-7",
    } <= found  # fmt: skip
    assert redactor.redact("postgresql://bot:db-password-9@db/x") == f"postgresql://bot:{REDACTED}@db/x"


async def test_a_full_journey_logged_as_json_never_shows_a_configured_secret(database_url: str, tmp_path: Path) -> None:
    secrets = [DEFAULT_TOKEN, DEFAULT_TOKEN.split(":", 1)[1], KIE_KEY, WEBHOOK_SECRET]
    settings = load_settings(
        telegram_bot_token=DEFAULT_TOKEN, kie_api_key=KIE_KEY, webhook_secret=WEBHOOK_SECRET, log_format="json"
    )
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        fmt=settings.log_format, level="DEBUG", secrets=secrets_of(settings, [callback_secret(settings)]), stream=stream
    )
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in quiet:  # everything, HTTP client internals included
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        async with running_bot(database_url, tmp_path, webhook_secret=WEBHOOK_SECRET) as bot:
            user = await bot.user(990, lang="en", balance_rub=100)
            for i in range(2):  # the menu, and a screen behind each of its first two buttons
                sent = await bot.tg.send_text(user, "/start")
                menu = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"], timeout=10)
                pressable = [b for row in menu["keyboard"]["rows"] for b in row if b.get("callback_data")]
                await bot.tg.press(user, menu["message_id"], callback_data=pressable[i]["callback_data"], wait=5)
            service = bot.parts.generations
            offer = await service.offer("google/nano-banana", {"prompt": "a fox"})
            done = await settled(service, await service.launch(user, offer, chat_id=user))
            await bot.kie("POST", "/sandbox/faults", {"fail_next": 1, "fail_message": "model crashed"})
            failing = await settled(service, await service.launch(user, offer, chat_id=user))
            assert bot.parts.refresher is not None  # a /metrics scrape: free-tier spend, the Kie balance
            await bot.parts.refresher.refresh()
            await bot.parts.refresher.wait_background()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)

    text = stream.getvalue()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    leaked = [s for s in secrets if s in text]
    assert (done.state, failing.state) == (State.COMPLETED, State.FAILED)
    assert len(entries) > 100  # the whole journey was logged (DEBUG included)
    assert leaked == []
    assert any(e.get("request_id", "").startswith("RQ-") and "update_id" in e and e.get("user_id") == user
               for e in entries)  # fmt: skip
    outcomes = {e["generation_id"]: e["msg"] for e in entries if e.get("generation_id") in (done.id, failing.id)}
    assert outcomes[done.id].startswith("generation delivered") and outcomes[failing.id].startswith("generation failed")
