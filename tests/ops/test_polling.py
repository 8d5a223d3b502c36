"""Long polling under a lock: one instance polls, a second waits (no 409 fight) and takes over when the first
stops; a PostgreSQL lock whose connection dies is noticed as lost."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import asyncpg
import pytest

from aistudio import __version__
from aistudio.ops.locks import FileLock, PgAdvisoryLock, lock_key, polling_lock
from tests.ops.procs import BotProcess, Emulator, bot_env, free_port


async def _stop_after(stop: asyncio.Event, seconds: float) -> None:
    await asyncio.sleep(seconds)
    stop.set()


def test_lock_keys_are_stable_per_bot_and_differ_between_bots() -> None:
    assert lock_key(7000000001) == lock_key("7000000001")
    assert lock_key(7000000001) != lock_key(7000000002)
    assert -(2**63) <= lock_key(1) < 2**63


def test_each_database_gets_its_kind_of_lock(tmp_path: Path) -> None:
    sqlite = polling_lock("sqlite+aiosqlite:///x", tmp_path / "bot.sqlite3", 1)
    pg = polling_lock("postgresql+asyncpg://u@h/db", None, 1)

    assert isinstance(sqlite, FileLock) and sqlite.path == tmp_path / "bot.sqlite3.polling.lock"
    assert isinstance(pg, PgAdvisoryLock) and pg.dsn == "postgresql://u@h/db"


async def test_a_file_lock_makes_the_second_holder_wait_until_the_first_releases(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = FileLock(tmp_path / "a.lock", retry_s=0.05), FileLock(tmp_path / "a.lock", retry_s=0.05)
    never = asyncio.Event()
    assert await first.acquire(never)

    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="aistudio.ops.locks"):
        waited = await asyncio.gather(second.acquire(stop), _stop_after(stop, 0.3))
    await first.release()
    taken = await asyncio.wait_for(second.acquire(never), 5)
    await second.release()

    assert waited[0] is False
    assert "waiting for the polling lock" in caplog.text
    assert taken is True


@pytest.mark.postgres
async def test_an_advisory_lock_is_exclusive_and_its_loss_is_noticed(pg_database_url: str) -> None:
    key = lock_key("test-advisory")
    first = PgAdvisoryLock(pg_database_url, key, retry_s=0.05, check_s=0.1)
    second = PgAdvisoryLock(pg_database_url, key, retry_s=0.05, check_s=0.1)
    never = asyncio.Event()
    assert await first.acquire(never)
    stop = asyncio.Event()
    blocked = await asyncio.gather(second.acquire(stop), _stop_after(stop, 0.3))

    admin = await asyncpg.connect(pg_database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(  # this test's database only: other tests may hold polling locks elsewhere
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'aistudio-polling-lock' AND datname = current_database()"
        )
    finally:
        await admin.close()
    await asyncio.wait_for(first.lost.wait(), 5)
    taken = await asyncio.wait_for(second.acquire(never), 5)
    await first.release()
    await second.release()

    assert blocked[0] is False
    assert taken is True


async def _start_and_wait(telegram: Emulator, user_id: int) -> dict:
    await telegram.tg.create_user(user_id, first_name="Anna", language_code="en")
    sent = await telegram.tg.send_text(user_id, "/start")
    return await telegram.tg.wait_for_reply(user_id, after_message_id=sent["message_id"], timeout=30)


def _handled_users(bot: BotProcess) -> set[int]:
    return {line["user_id"] for line in bot.lines() if "is handled" in line.get("msg", "") and "user_id" in line}


async def _wait_handled_by(bots: list[BotProcess], user_id: int) -> list[str]:
    """Names of the processes that logged handling an update of `user_id` (the line follows the reply)."""
    for _ in range(300):
        names = [b.name for b in bots if user_id in _handled_users(b)]
        if names:
            await asyncio.sleep(0.3)  # a second process handling it too would have logged by now
            return [b.name for b in bots if user_id in _handled_users(b)]
        await asyncio.sleep(0.05)
    return []


async def test_a_second_aistudio_run_waits_for_the_lock_and_takes_over_when_the_first_stops(
    database_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    bots = [
        BotProcess(name, bot_env(database_url, telegram.url, free_port()), tmp_path / f"{name}.log")
        for name in ("one", "two")
    ]
    try:
        for bot in bots:
            await bot.start()
        states = [await bot.wait_ready() for bot in bots]
        for _ in range(100):  # both are up; one of them took the lock
            states = [await bot.wait_ready() for bot in bots]
            if {s["role"] for s in states} == {"active", "standby"}:
                break
            await asyncio.sleep(0.1)
        active = bots[[s["role"] for s in states].index("active")]
        standby = bots[[s["role"] for s in states].index("standby")]
        await standby.wait_log("waiting for the polling lock")

        before = await _start_and_wait(telegram, 801)
        first_handler = await _wait_handled_by(bots, 801)
        code = await active.stop(signal.SIGTERM)
        await standby.wait_ready(role="active", within=30)
        after = await _start_and_wait(telegram, 802)
        second_handler = await _wait_handled_by(bots, 802)
        conflicts = [c for c in await telegram.tg.calls("getUpdates") if (c.get("error") or {}).get("error_code")]
        first_line = active.lines()[0]
    finally:
        for bot in bots:
            await bot.kill()

    assert {s["role"] for s in states} == {"active", "standby"}
    assert before["text"] and after["text"]
    assert code == 0
    assert first_handler == [active.name]
    assert second_handler == [standby.name]
    assert len(await telegram.tg.bot_messages(801)) == len(await telegram.tg.bot_messages(802))  # none twice
    assert conflicts == []  # never two pollers at once: no 409
    assert first_line.get("event") == "start" and first_line.get("version") == __version__
