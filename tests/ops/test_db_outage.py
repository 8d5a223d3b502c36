"""PostgreSQL goes away mid-run (every connection of the bot terminated, new ones refused for a while): users
get an error message with a request id, and the bot recovers by itself once the database is back."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_URL
from tests.e2e.harness import running_bot
from tests.ops.procs import BotProcess, Emulator, bot_env, free_port

RQ = re.compile(r"RQ-[23456789A-HJ-NP-Z]{8}")


def _admin_dsn() -> str:
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://")


async def cut_connections(database: str, *, refuse_new: bool) -> int:
    """Terminate every backend of `database` (from the admin database); optionally refuse new connections."""
    admin = await asyncpg.connect(_admin_dsn())
    try:
        if refuse_new:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        return len(
            await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await admin.close()


async def allow_connections(database: str) -> None:
    admin = await asyncpg.connect(_admin_dsn())
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def say(tg, user: int, text: str) -> dict:
    sent = await tg.send_text(user, text)
    return await tg.wait_for_reply(user, after_message_id=sent["message_id"], timeout=30)


@pytest.mark.postgres
async def test_while_the_database_is_down_users_get_an_error_with_a_request_id_and_then_service_resumes(
    pg_engine, pg_database_url: str, tmp_path: Path
) -> None:
    database = pg_database_url.rsplit("/", 1)[1]
    async with running_bot(pg_database_url, tmp_path) as bot:
        user = await bot.user(930, lang="en")
        before = await say(bot.tg, user, "/start")
        try:
            terminated = await cut_connections(database, refuse_new=True)
            during = await say(bot.tg, user, "/start")
        finally:
            await allow_connections(database)
        after = [await say(bot.tg, user, "/start")]
        for _ in range(2):  # a pooled connection killed earlier may fail once more; then it is replaced
            if RQ.search(after[-1]["text"]) is None:
                break
            after.append(await say(bot.tg, user, "/start"))

    assert terminated >= 1
    assert RQ.search(before["text"]) is None
    assert RQ.search(during["text"]) is not None  # told, with the id support can look up
    assert RQ.search(after[-1]["text"]) is None and after[-1]["text"] == before["text"]  # served again


@pytest.mark.postgres
async def test_aistudio_run_keeps_polling_after_its_connections_and_its_lock_are_cut(
    pg_engine, pg_database_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    database = pg_database_url.rsplit("/", 1)[1]
    bot = await BotProcess("bot", bot_env(pg_database_url, telegram.url, free_port()), tmp_path / "bot.log").start()
    try:
        await bot.wait_ready(role="active")
        await telegram.tg.create_user(931, first_name="Anna", language_code="en")
        before = await say(telegram.tg, 931, "/start")
        await cut_connections(database, refuse_new=False)
        await bot.wait_log("polling lock lost")
        await bot.wait_log("polling stopped: the polling lock was lost")
        await bot.wait_ready(role="active", within=30)
        replies = [await say(telegram.tg, 931, "/start")]
        for _ in range(2):  # as above: a stale pooled connection may fail one request
            if RQ.search(replies[-1]["text"]) is None:
                break
            replies.append(await say(telegram.tg, 931, "/start"))
        code = await bot.stop()
    finally:
        await bot.kill()

    taken = [line for line in bot.lines() if line.get("msg", "").startswith("polling lock taken")]
    assert len(taken) == 2  # the same process took the lock again: no restart
    assert RQ.search(before["text"]) is None
    assert replies[-1]["text"] == before["text"]
    assert code == 0
