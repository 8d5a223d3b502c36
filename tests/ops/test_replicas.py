"""Two webhook replicas (separate `aistudio run` processes) on one PostgreSQL and one Redis, receiving the same
updates interleaved and duplicated: each update is handled once, by one of them."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.tables import processed_updates
from aistudio.web.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.ops.apps import WEBHOOK_SECRET, command_update
from tests.ops.procs import BotProcess, Emulator, bot_env, free_port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is a system dependency of the tests (scripts/system-deps.sh)"
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


async def post(http: httpx.AsyncClient, replica: BotProcess, update: dict) -> int:
    for _ in range(100):  # a 503 ("being handled" elsewhere) is retried, as Telegram does
        response = await http.post(replica.base + WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
        if response.status_code != 503:
            return response.status_code
        await asyncio.sleep(0.05)
    return 503


@pytest.mark.postgres
async def test_two_replicas_given_the_same_updates_interleaved_and_duplicated_handle_each_once(
    pg_engine: AsyncEngine, pg_database_url: str, redis_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    replicas = []
    for name in ("a", "b"):
        port = free_port()
        env = bot_env(
            pg_database_url, telegram.url, port,
            WEBHOOK_BASE_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET=WEBHOOK_SECRET, REDIS_URL=redis_url,
        )  # fmt: skip
        replicas.append(BotProcess(name, env, tmp_path / f"{name}.log"))
    users = list(range(940, 950))
    updates = [command_update(1000 + i, users[i % len(users)]) for i in range(40)]
    rng = random.Random(8)
    deliveries = [(rng.choice(replicas), u) for u in updates for _ in range(rng.choice((1, 2, 3)))]
    rng.shuffle(deliveries)
    try:
        for replica in replicas:
            await replica.start()
        for replica in replicas:
            await replica.wait_ready(role="active")
        for user in users:
            await telegram.tg.create_user(user, first_name="Anna", language_code="en")
        async with httpx.AsyncClient(timeout=60) as http:
            codes = await asyncio.gather(*(post(http, replica, update) for replica, update in deliveries))
        replies = {user: len(await telegram.tg.bot_messages(user)) for user in users}
        for replica in replicas:
            await replica.stop()
    finally:
        for replica in replicas:
            await replica.kill()
    async with pg_engine.connect() as conn:
        rows = await conn.execute(sa.select(processed_updates.c.update_id, processed_updates.c.status))
        statuses = dict(rows.all())
    handled_by = Counter(
        line["update_id"]
        for replica in replicas
        for line in replica.lines()
        if "is handled" in line.get("msg", "") and "update_id" in line
    )

    assert set(codes) == {200}
    assert len(deliveries) > len(updates)  # duplicates were sent
    assert statuses == {u["update_id"]: "handled" for u in updates}
    assert handled_by == Counter({u["update_id"]: 1 for u in updates})  # once each, across both replicas
    per_start = replies[users[0]] // 4
    assert per_start >= 1 and all(count == 4 * per_start for count in replies.values())  # 4 starts per user
