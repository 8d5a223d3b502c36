"""Three 🚀 Launch taps on one summary, handled by two replicas that share only the database and the FSM
storage (as Redis is shared in production), make exactly one generation and one charge.

Within one process a per-user lock and the FSM state stop a second launch; across replicas both can read
`summary` before either writes `launching`. The wizard's request id, made with its summary, is the launch's
idempotency key in the database, so the press that comes second is told it is already launched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from aistudio.app import AppParts, build_app
from aistudio.db.tables import generations
from aistudio.telegram.handlers import wizard
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import kie_stats, open_wizard, relax_throttling, say, version, wait_screen
from tests.e2e.walk_support import finished, has_error_text


class SharedStorage(BaseStorage):
    """One FSM storage for both replicas, answering after a round trip as Redis does (so both replicas can
    read `summary` before either writes `launching`)."""

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await asyncio.sleep(0.01)
        await self.inner.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        await asyncio.sleep(0.01)
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Any) -> None:
        await asyncio.sleep(0.01)
        await self.inner.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return await self.inner.get_data(key)

    async def close(self) -> None:
        pass


class EveryOtherLaunchToReplica:
    """Outermost middleware of replica A: every second Launch press is handled by replica B instead."""

    def __init__(self, other: AppParts) -> None:
        self.other = other
        self.launches = 0
        self.forwarded = 0

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        query = event.callback_query
        if query is not None and (query.data or "").startswith("wz:go"):
            self.launches += 1
            if self.launches % 2 == 0:
                self.forwarded += 1
                return await self.other.dispatcher.feed_update(self.other.bot, event)
        return await handler(event, data)


async def test_launch_taps_split_between_two_replicas_make_one_generation(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relax_throttling(bot)
    # Each press gets a lock of its own, as presses on different replicas do.
    monkeypatch.setattr(wizard, "user_lock", lambda user_id: asyncio.Lock())
    replica = await build_app(bot.parts.settings, results_dir=tmp_path / "replica")
    shared = SharedStorage(bot.parts.dispatcher.fsm.storage)
    bot.parts.dispatcher.fsm.storage = replica.dispatcher.fsm.storage = shared
    router = EveryOtherLaunchToReplica(replica)
    bot.parts.dispatcher.update.outer_middleware._middlewares.insert(0, router)
    try:
        user = await bot.user(811, lang="en", balance_rub=100)
        await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
        summary = await say(bot, user, "a fox", "Check and launch")
        launch = next(b for b in summary["keyboard"]["rows"][0] if b["text"].startswith("🚀"))
        before = await version(bot, user)

        tap = launch["callback_data"]
        presses = await asyncio.gather(
            *(bot.tg.press(user, summary["message_id"], callback_data=tap, wait=5) for _ in range(3))
        )
        await wait_screen(bot, user, before, "Done: Nano Banana", within=15)
        launched = await launched_by(bot, user)
        for generation_id in launched:  # both replicas' work is over before one closes
            await finished(bot, generation_id, timeout=30)
    finally:
        bot.parts.dispatcher.update.outer_middleware._middlewares.remove(router)
        await replica.close()

    assert len(launched) == 1, launched
    assert router.forwarded >= 1 and all(p["answered"] for p in presses)
    assert not has_error_text(await bot.tg.bot_messages(user))
    assert (await kie_stats(bot))["tasks"]["total"] == 1
    assert await bot.available(user) == 100_00 - 380
    assert await bot.books_balanced()


async def launched_by(bot: Bot, user: int) -> list[int]:
    async with bot.parts.engine.connect() as conn:
        query = sa.select(generations.c.id).where(generations.c.user_id == user)
        return list((await conn.execute(query)).scalars())
