"""With REDIS_URL, two replicas never handle two updates of one user at once (aiogram's RedisEventIsolation in
the same Redis as the FSM storage); different users still run side by side."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.redis import RedisEventIsolation
from aiogram.types import Message, Update

from aistudio.db.engine import create_engine
from aistudio.telegram.dispatcher import create_dispatcher, create_isolation, create_storage

REDIS_URL = "redis://127.0.0.1:6379/0"
TOKEN = "42:isolation-test-token"
_ids = itertools.count(1)


def message_update(user_id: int) -> Update:
    n = next(_ids)
    return Update.model_validate(
        {
            "update_id": n,
            "message": {
                "message_id": n,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": "U"},
                "text": f"hello {n}",
            },
        }
    )


class Overlap:
    """Counts how many updates are being handled at once, per user and in total."""

    def __init__(self) -> None:
        self.active: Counter[int] = Counter()
        self.peak: Counter[int] = Counter()
        self.total_peak = 0

    async def handler(self, message: Message) -> None:
        user = message.chat.id
        self.active[user] += 1
        self.peak[user] = max(self.peak[user], self.active[user])
        self.total_peak = max(self.total_peak, sum(self.active.values()))
        await asyncio.sleep(0.05)
        self.active[user] -= 1


def replica(redis_url: str | None, overlap: Overlap) -> Dispatcher:
    storage = create_storage(redis_url)
    dp = Dispatcher(storage=storage, events_isolation=create_isolation(storage))
    dp.message.register(overlap.handler)
    return dp


async def run_interleaved(replicas: list[Dispatcher], users: list[int], per_user: int) -> None:
    bot = Bot(TOKEN)
    try:
        feeds = [
            replicas[i % len(replicas)].feed_update(bot, message_update(user))
            for i in range(per_user)
            for user in users
        ]
        await asyncio.gather(*feeds)
    finally:
        for dp in replicas:
            await dp.storage.close()
        await bot.session.close()


@pytest.fixture
def users() -> list[int]:
    base = 10_000_000 + secrets.randbelow(10_000_000)  # keys of their own in the shared Redis
    return [base, base + 1]


async def test_two_replicas_take_turns_on_one_user_and_run_two_users_side_by_side(users: list[int]) -> None:
    overlap = Overlap()
    await run_interleaved([replica(REDIS_URL, overlap), replica(REDIS_URL, overlap)], users, per_user=4)
    assert overlap.peak == {users[0]: 1, users[1]: 1}
    assert overlap.total_peak == 2


async def test_without_redis_the_updates_of_one_user_overlap(users: list[int]) -> None:
    # The control: the same load on in-memory replicas (nothing shared) does overlap, so the test above can fail.
    overlap = Overlap()
    await run_interleaved([replica(None, overlap), replica(None, overlap)], users, per_user=4)
    assert overlap.peak[users[0]] > 1


async def test_the_bot_dispatcher_uses_redis_isolation_when_redis_is_configured(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        for redis_url, expected in ((REDIS_URL, RedisEventIsolation), (None, None)):
            services: Any = SimpleNamespace(settings=SimpleNamespace(redis_url=redis_url), engine=engine)
            dp = create_dispatcher(services)
            isolation = dp.fsm.events_isolation
            assert isinstance(isolation, expected) if expected else type(isolation).__name__ == "DisabledEventIsolation"
            await dp.storage.close()
    finally:
        await engine.dispose()
