"""A flood from one user is cut politely: one "not so fast" note, no error, other users unaffected."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import Bot
from tests.e2e.walk_support import has_error_text

BURST = 8  # ThrottlingMiddleware's default: 3 updates/s with a burst of 8


async def test_a_flood_gets_one_polite_note_and_no_error(bot: Bot) -> None:
    user = await bot.user(901, lang="en")
    neighbour = await bot.user(902, lang="en")

    await asyncio.gather(*(bot.tg.send_text(user, f"hello {n}") for n in range(12)))
    # Everything the bot will say about the flood is said by the time it answers someone else.
    sent = await bot.tg.send_text(neighbour, "/menu")
    await bot.tg.wait_for_reply(neighbour, after_message_id=sent["message_id"])
    await bot.tg.wait_until(user, lambda t: sum(m["direction"] == "out" for m in t["messages"]) >= BURST + 1)
    texts = [m["text"] for m in await bot.tg.bot_messages(user)]

    assert texts.count("Not so fast 🙂 Give it a couple of seconds.") == 1
    assert sum(t.startswith("Pick a task in the menu") for t in texts) == BURST
    assert not has_error_text(await bot.tg.bot_messages(user))
