"""Helpers for walking the bot from the outside: buttons of a transcript message, generations run through
the real pipeline (offer → launch → Kie emulator → delivery), and the error texts that must never appear."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from aistudio.db.tables import generations
from aistudio.generation.repo import Generation
from aistudio.generation.states import TERMINAL
from aistudio.i18n import translator
from aistudio.telegram.middlewares import ThrottlingMiddleware
from tests.e2e.harness import Bot

PAID_IMAGE_MODEL = "grok-imagine/text-to-image"  # 4 credits → 3.80 ₽ at 95 ₽/$ and markup 2; not in the free tier
PAID_IMAGE_PRICE = 380


def lift_flood_limit(bot: Bot) -> None:
    """Let one simulated user press faster than a person can (3/s with a burst of 8 by default).

    Walks press dozens of buttons in a second; flood control has its own test (test_throttling.py).
    """
    for middleware in bot.parts.dispatcher.update.outer_middleware:
        if isinstance(middleware, ThrottlingMiddleware):
            middleware.rate, middleware.burst = 1000.0, 1000


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every inline button of a transcript message, row by row."""
    keyboard = message.get("keyboard") or {}
    return [b for row in keyboard.get("rows", []) for b in row]


def button_texts(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in buttons(message)]


def error_prefixes() -> list[str]:
    """The first words of the global error handler's messages, in every language."""
    t = translator()
    return [t(key, lang, request_id="RQ-").split("\n")[0] for key in ("common.error",) for lang in ("ru", "en")]


def has_error_text(messages: list[dict[str, Any]]) -> bool:
    prefixes = error_prefixes()
    return any(any(p in (m.get("text") or m.get("caption") or "") for p in prefixes) for m in messages)


async def finished(bot: Bot, generation_id: int, *, timeout: float = 15.0) -> Generation:  # noqa: ASYNC109
    """Wait until the pipeline has delivered-and-charged, or failed-and-refunded and told the user."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        gen = await bot.parts.generations.get(generation_id)
        if gen is not None and gen.state in TERMINAL and (gen.state != "failed" or gen.next_check_at is None):
            break
        if loop.time() > deadline:
            raise TimeoutError(f"generation {generation_id} still {gen.state if gen else '?'} after {timeout} s")
        await asyncio.sleep(0.05)
    if gen.state == "failed":  # the notice names the request id; wait until it is in the chat
        await bot.tg.wait_until(
            gen.chat_id or gen.user_id,
            lambda t: any(gen.request_id in (m.get("text") or "") for m in t["messages"]),
            timeout=max(deadline - loop.time(), 1.0),
        )
    return gen


async def newest_generation_id(bot: Bot, user_id: int, *, after: int, timeout: float = 10.0) -> int:  # noqa: ASYNC109
    """The id of the user's first generation newer than `after`, once it exists (launched by a button)."""
    g = generations
    query = sa.select(sa.func.min(g.c.id)).where(g.c.user_id == user_id, g.c.id > after)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with bot.parts.engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        if found is not None:
            return int(found)
        if loop.time() > deadline:
            raise TimeoutError(f"no generation after {after} within {timeout} s")
        await asyncio.sleep(0.05)


async def generate(bot: Bot, user_id: int, prompt: str, *, model_id: str = PAID_IMAGE_MODEL) -> Generation:
    """One generation through the real pipeline, as the wizard's Launch does it; waits for the outcome."""
    offer = await bot.parts.generations.offer(model_id, {"prompt": prompt})
    launched = await bot.parts.generations.launch(user_id, offer, chat_id=user_id)
    return await finished(bot, launched.id)


async def fail_next_task(bot: Bot) -> None:
    """The Kie emulator fails the next task it accepts (the user is refunded and told)."""
    await bot.kie("POST", "/sandbox/faults", {"fail_next": 1})
