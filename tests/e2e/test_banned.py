"""A banned user gets one polite message and nothing else; an unban and a new ban start over."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from aistudio.db.tables import users
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import relax_throttling, until

BANNED_EN = "Access to the bot is restricted. If this is a mistake, contact support."


class Handled:
    """Outermost middleware: the update ids the dispatcher has finished with (answered or not)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        finally:
            self.ids.add(event.update_id)


def watch(bot: Bot) -> Handled:
    handled = Handled()
    bot.parts.dispatcher.update.outer_middleware._middlewares.insert(0, handled)  # before the ban check
    return handled


async def set_ban(bot: Bot, user_id: int, banned: bool) -> None:
    # What the admin tools do: a ban sets the flag; an unban clears it and forgets the notice.
    values: dict[str, Any] = {"is_banned": banned} if banned else {"is_banned": False, "banned_notice_at": None}
    async with bot.parts.engine.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))


async def notice_at(bot: Bot, user_id: int) -> Any:
    async with bot.parts.engine.connect() as conn:
        return (await conn.execute(sa.select(users.c.banned_notice_at).where(users.c.id == user_id))).scalar_one()


async def say(bot: Bot, handled: Handled, user: int, text: str) -> None:
    sent = await bot.tg.send_text(user, text)

    async def done() -> bool:
        return sent["update_id"] in handled.ids

    await until(done)


async def press_menu(bot: Bot, user: int, menu_id: int) -> dict[str, Any]:
    """Press the menu's first button; the emulator returns once the bot answered the callback query."""
    since = len(await bot.tg.calls("answerCallbackQuery"))
    menu = next(m for m in await bot.tg.bot_messages(user) if m["message_id"] == menu_id)
    data = menu["keyboard"]["rows"][0][0]["callback_data"]
    await bot.tg.press(user, menu_id, callback_data=data, wait=5.0)
    answers = (await bot.tg.calls("answerCallbackQuery"))[since:]
    assert len(answers) == 1, answers
    return answers[0]["params"]


async def test_a_banned_user_is_told_once_then_ignored(bot: Bot) -> None:
    relax_throttling(bot)
    handled = watch(bot)
    user = await bot.user(7101, lang="en")
    await say(bot, handled, user, "/start")
    menu = next(m for m in reversed(await bot.tg.bot_messages(user)) if m.get("keyboard"))
    before = len(await bot.tg.bot_messages(user))

    await set_ban(bot, user, True)
    await say(bot, handled, user, "hello")
    texts = [m["text"] for m in await bot.tg.bot_messages(user)][before:]
    assert texts == [BANNED_EN]
    assert await notice_at(bot, user) is not None

    # Later updates: no message at all, and a button press is answered without a word.
    await asyncio.gather(say(bot, handled, user, "again"), say(bot, handled, user, "/start"))
    answer = await press_menu(bot, user, menu["message_id"])
    assert not answer.get("text") and not answer.get("show_alert")
    assert len(await bot.tg.bot_messages(user)) == before + 1

    # Unbanned: served again. Banned again: the first update (a press this time) gets the notice as an alert.
    await set_ban(bot, user, False)
    await say(bot, handled, user, "/menu")
    assert len(await bot.tg.bot_messages(user)) == before + 2
    await set_ban(bot, user, True)
    answer = await press_menu(bot, user, menu["message_id"])
    assert answer.get("text") == BANNED_EN and answer.get("show_alert") is True
    answer = await press_menu(bot, user, menu["message_id"])
    assert not answer.get("text")
    await say(bot, handled, user, "still here?")
    assert len(await bot.tg.bot_messages(user)) == before + 2


async def test_simultaneous_updates_after_a_ban_get_one_notice(bot: Bot) -> None:
    relax_throttling(bot)
    handled = watch(bot)
    user = await bot.user(7102, lang="en")
    await say(bot, handled, user, "/start")
    before = len(await bot.tg.bot_messages(user))
    await set_ban(bot, user, True)

    await asyncio.gather(*(say(bot, handled, user, f"message {n}") for n in range(6)))
    texts = [m["text"] for m in await bot.tg.bot_messages(user)][before:]
    assert texts == [BANNED_EN]


async def test_other_users_are_not_affected(bot: Bot) -> None:
    relax_throttling(bot)
    handled = watch(bot)
    banned, neighbour = await bot.user(7103, lang="en"), await bot.user(7104, lang="en")
    await say(bot, handled, banned, "/start")
    await set_ban(bot, banned, True)
    await say(bot, handled, banned, "hi")
    await say(bot, handled, neighbour, "/start")
    texts = [m["text"] for m in await bot.tg.bot_messages(neighbour)]
    assert texts and BANNED_EN not in texts
