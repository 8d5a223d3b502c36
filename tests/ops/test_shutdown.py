"""Graceful stop of long polling: no new updates, but the update being handled finishes and is answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aistudio.app import run_polling
from tests.ops.apps import built_app
from tests.ops.procs import Emulator


async def test_stopping_polling_lets_the_update_in_hand_finish(
    sqlite_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    await telegram.tg.create_user(970, first_name="Anna", language_code="en")
    async with built_app(sqlite_url, telegram.url, tmp_path) as parts:
        entered, release = asyncio.Event(), asyncio.Event()
        real_feed = parts.dispatcher.feed_update

        async def slow_feed(bot: Any, update: Any, **kwargs: Any) -> Any:
            entered.set()
            await release.wait()
            return await real_feed(bot, update, **kwargs)

        parts.dispatcher.feed_update = slow_feed  # type: ignore[method-assign]
        stop = asyncio.Event()
        polling = asyncio.create_task(run_polling(parts, stop, once_only=True, drain_timeout=10))
        await telegram.tg.send_text(970, "/start")
        await asyncio.wait_for(entered.wait(), 15)
        stop.set()
        await asyncio.sleep(0.3)
        still_running = not polling.done()
        release.set()
        await asyncio.wait_for(polling, 15)
        getupdates_after_stop = len(await telegram.tg.calls("getUpdates"))
        await asyncio.sleep(0.3)

        assert still_running  # waiting for the update in hand
        assert len(await telegram.tg.bot_messages(970)) >= 1  # which was answered
        assert len(await telegram.tg.calls("getUpdates")) == getupdates_after_stop  # and nothing polled after
