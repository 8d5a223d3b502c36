"""An instance killed with SIGKILL in the middle of a stream of generations: the waiting instance takes the
polling lock, resumes every generation the dead one held once its leases expire, and nothing is left
unresolved: every generation delivered (at most once), no hold open after the sweep, the books balanced."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.queries import check_invariants
from aistudio.db.tables import generations, ledger_transfers
from aistudio.generation.launch import launch
from aistudio.sandbox.kie import EmulatorConfig as KieConfig
from aistudio.sandbox.kie import create_app as create_kie_app
from tests.ops.apps import built_app
from tests.ops.procs import KIE_KEY, BotProcess, Emulator, bot_env, free_port
from tests.support import make_user

MODEL = "google/nano-banana"


@pytest.fixture
async def kie_url() -> AsyncIterator[str]:
    server = TestServer(create_kie_app(KieConfig(api_key=KIE_KEY, time_scale=0.1, duration=5.0, seed=3)))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def count(engine: AsyncEngine, query: sa.Select) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


def completed() -> sa.Select:
    return sa.select(sa.func.count()).select_from(generations).where(generations.c.state == "completed")


def finished() -> sa.Select:
    return sa.select(sa.func.count()).select_from(generations).where(generations.c.state.in_(("completed", "failed")))


@pytest.mark.postgres
async def test_generations_of_an_instance_killed_mid_stream_are_finished_by_the_one_that_takes_over(
    pg_engine: AsyncEngine, pg_database_url: str, telegram: Emulator, kie_url: str, tmp_path: Path
) -> None:
    # Kie's task limit is lifted: a generation waiting for a slot when its process dies is failed as
    # "outcome unknown" today (the submit attempt is counted before the wait), see the report.
    extra = {
        "KIE_API_BASE": kie_url, "KIE_UPLOAD_BASE": kie_url, "GENERATION_LEASE_SECONDS": "2",
        "KIE_TASKS_PER_10S": "1000",
    }  # fmt: skip
    bots = [
        BotProcess(name, bot_env(pg_database_url, telegram.url, free_port(), **extra), tmp_path / f"{name}.log")
        for name in ("one", "two")
    ]
    users = list(range(960, 975))
    async with built_app(pg_database_url, telegram.url, tmp_path, kie_api_base=kie_url) as app:
        for user in users:
            await telegram.tg.create_user(user, first_name="Anna", language_code="en")
            await make_user(app.engine, app.services.ledger, user, balance=10_000)
        try:
            for bot in bots:
                await bot.start()
            roles = [(await bot.wait_ready())["role"] for bot in bots]
            for _ in range(100):
                roles = [(await bot.wait_ready())["role"] for bot in bots]
                if sorted(roles) == ["active", "standby"]:
                    break
                await asyncio.sleep(0.1)
            victim, survivor = (bots[0], bots[1]) if roles[0] == "active" else (bots[1], bots[0])
            offer = await app.generations.offer(MODEL, {"prompt": "a fox"})
            launched = []

            async def stream() -> None:  # a generation every 0.15 s, as users launch them
                for user in [*users, *users]:
                    launched.append(await launch(app.generations.pipeline, user_id=user, offer=offer, chat_id=user))
                    await asyncio.sleep(0.15)

            launching = asyncio.create_task(stream())
            for _ in range(600):  # let the active instance get going, then kill it mid-stream
                if await count(app.engine, completed()) >= 3:
                    break
                await asyncio.sleep(0.05)
            await victim.stop(signal.SIGKILL)
            done_before_kill = await count(app.engine, completed())
            await launching
            await survivor.wait_ready(role="active", within=30)
            for _ in range(1200):
                if await count(app.engine, finished()) == len(launched):
                    break
                await asyncio.sleep(0.05)
            released = await app.services.ledger.expire_holds()  # the sweep
            open_holds = await count(
                app.engine,
                sa.select(sa.func.count()).select_from(ledger_transfers).where(ledger_transfers.c.status == "pending"),
            )
            books = await check_invariants(app.engine)
            async with app.engine.connect() as conn:
                rows = await conn.execute(sa.select(generations.c.id, generations.c.state, generations.c.error_class))
                states = {gid: (state, error) for gid, state, error in rows}
        finally:
            for bot in bots:
                await bot.kill()
        messages = {user: await telegram.tg.bot_messages(user) for user in users}

    def delivered_by(bot: BotProcess) -> set[int]:
        return {line["generation_id"] for line in bot.lines() if line.get("msg", "").startswith("generation delivered")}

    per_user = {user: [g for g in launched if g.user_id == user] for user in users}
    photos = {user: sum(1 for m in messages[user] if (m.get("media") or {}).get("kind") == "photo") for user in users}
    named = {user: {g.request_id for g in per_user[user] if g.request_id in str(messages[user])} for user in users}
    done = {user: sum(1 for g in per_user[user] if states[g.id][0] == "completed") for user in users}
    failed = {gid: error for gid, (state, error) in states.items() if state == "failed"}
    assert victim.proc is not None and victim.proc.returncode == -signal.SIGKILL
    assert 3 <= done_before_kill < len(launched)  # killed mid-stream
    assert all(state in ("completed", "failed") for state, _ in states.values())  # the survivor finished all
    assert set(failed.values()) <= {"submit_unknown"} and len(failed) <= 2  # only createTask calls in flight
    assert delivered_by(victim) and delivered_by(survivor)
    assert all(photos[user] <= done[user] for user in users)  # a result is never delivered twice
    # Every user heard about every generation: its result, or a message naming it (a failure, or a send the
    # dead process may not have finished, with how to get the result).
    assert all(photos[user] + len(named[user]) >= len(per_user[user]) for user in users)
    assert sum(done.values()) - sum(photos.values()) <= 2  # only sends in flight at the kill go unconfirmed
    assert open_holds == 0 and released == 0  # nothing left for the sweep: every hold was settled
    assert books.ok and books.total == 0
