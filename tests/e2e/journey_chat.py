"""A user's side of the journey tests: find buttons, press them, wait for the screen they lead to.

Screens are either edits of the pressed message or new messages; `tap` and `wait_screen` wait for a bot
message changed after a known transcript version that contains an expected text, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aistudio.telegram.middlewares import ThrottlingMiddleware
from tests.e2e.harness import Bot

Message = dict[str, Any]


def relax_throttling(bot: Bot) -> None:
    """Tests tap faster than people: lift the per-user flood limit (its own tests cover it)."""
    for middleware in bot.parts.dispatcher.update.outer_middleware:
        if isinstance(middleware, ThrottlingMiddleware):
            middleware.rate = middleware.burst = 1000


def buttons(message: Message) -> list[dict[str, Any]]:
    keyboard = message.get("keyboard") or {}
    return [b for row in keyboard.get("rows", []) for b in row]


def button_texts(message: Message) -> list[str]:
    return [b["text"] for b in buttons(message)]


def find_button(message: Message, label: str) -> dict[str, Any]:
    """The button whose text is `label` or starts with it (prices and badges follow names)."""
    for b in buttons(message):
        if b["text"] == label:
            return b
    for b in buttons(message):
        if b["text"].startswith(label) or label in b["text"]:
            return b
    raise AssertionError(f"no button {label!r} in {button_texts(message)}")


def body(message: Message) -> str:
    return message.get("text") or message.get("caption") or ""


async def version(bot: Bot, user: int) -> int:
    return (await bot.tg.transcript(user))["version"]


async def wait_screen(
    bot: Bot, user: int, after_version: int, expect: str, within: float = 5.0, *, deleted_too: bool = False
) -> Message:
    """The bot message, new or edited after `after_version`, whose text contains `expect`.

    `deleted_too` also finds a message already removed again (a progress message overtaken by the result).
    """
    found: list[Message] = []

    def changed(transcript: dict[str, Any]) -> bool:
        for m in reversed(transcript["messages"]):
            shown = deleted_too or not m["deleted"]
            if m["direction"] == "out" and shown and m["version"] > after_version and expect in body(m):
                found.append(m)
                return True
        return False

    try:
        await bot.tg.wait_until(user, changed, timeout=within)
    except TimeoutError:
        recent = [(m["direction"], body(m)[:300]) for m in (await bot.tg.messages(user))[-4:]]
        raise AssertionError(f"no bot message with {expect!r} within {within} s; the chat ends with {recent}") from None
    return found[-1]


async def tap(
    bot: Bot, user: int, message: Message, label: str, expect: str, within: float = 5.0, *, deleted_too: bool = False
) -> Message:
    """Press a button of `message` and return the screen it leads to (the one containing `expect`)."""
    button = find_button(message, label)
    before = await version(bot, user)
    answer = await bot.tg.press(user, message["message_id"], callback_data=button["callback_data"], wait=5)
    assert answer["answered"], f"{label!r} was not answered"
    return await wait_screen(bot, user, before, expect, within, deleted_too=deleted_too)


async def say(bot: Bot, user: int, text: str, expect: str, within: float = 5.0) -> Message:
    """Send a text and return the reply containing `expect`."""
    before = await version(bot, user)
    await bot.tg.send_text(user, text)
    return await wait_screen(bot, user, before, expect, within)


async def send_file(
    bot: Bot, user: int, path: Path, expect: str, *, kind: str, content_type: str = "application/octet-stream"
) -> Message:
    before = await version(bot, user)
    await bot.tg.send_file(user, path, kind=kind, content_type=content_type)
    return await wait_screen(bot, user, before, expect, within=10)


async def open_menu(bot: Bot, user: int) -> Message:
    sent = await bot.tg.send_text(user, "/menu")
    return await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])


async def kie_stats(bot: Bot) -> dict[str, Any]:
    return await bot.kie("GET", "/sandbox/stats")


async def kie_tasks(bot: Bot) -> list[dict[str, Any]]:
    return (await bot.kie("GET", "/sandbox/tasks"))["tasks"]


async def until(condition: Any, within: float = 5.0, interval: float = 0.02) -> None:
    """Wait for a condition outside the chat (the database, the Kie emulator)."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def open_wizard(bot: Bot, user: int, search: str, model_label: str, expect: str) -> Message:
    """An English-speaking user finds a model by name and presses ▶️ Start; returns the first wizard screen."""
    menu = await open_menu(bot, user)
    await tap(bot, user, menu, "📚 All models", "Pick a category")
    found = await say(bot, user, search, "Found for")
    card = await tap(bot, user, found, model_label, "Needs:")
    return await tap(bot, user, card, "▶️ Start", expect)
