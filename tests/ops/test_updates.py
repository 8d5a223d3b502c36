"""Each update once: the `processed_updates` record, and the polling gate in front of the handlers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.rawsql import RawDb
from aistudio.db.sql import utcnow
from aistudio.ops.middleware import GATE_KEY
from aistudio.ops.updates import KEEP, ProcessedUpdates, Verdict
from tests.ops.apps import built_app, command_update
from tests.ops.procs import Emulator


async def test_an_update_is_new_once_then_in_flight_then_a_duplicate(engine: AsyncEngine) -> None:
    updates = ProcessedUpdates(RawDb(engine))

    first = await updates.begin(5)
    while_handled = await updates.begin(5)
    await updates.finish(5, ok=True)
    after = await updates.begin(5)
    other = await updates.begin(6)

    assert (first, while_handled, after, other) == (Verdict.NEW, Verdict.IN_FLIGHT, Verdict.DUPLICATE, Verdict.NEW)


async def test_a_failed_update_is_not_handled_again(engine: AsyncEngine) -> None:
    updates = ProcessedUpdates(RawDb(engine))
    await updates.begin(7)
    await updates.finish(7, ok=False)

    assert await updates.begin(7) is Verdict.DUPLICATE


async def test_an_update_abandoned_by_a_dead_process_is_taken_over_once(engine: AsyncEngine) -> None:
    updates = ProcessedUpdates(RawDb(engine), stale_after=timedelta(minutes=2))
    start = utcnow()
    await updates.begin(8, now=start)

    soon = await updates.begin(8, now=start + timedelta(seconds=30))
    later = await updates.begin(8, now=start + timedelta(minutes=3))
    right_after = await updates.begin(8, now=start + timedelta(minutes=3, seconds=1))

    assert soon is Verdict.IN_FLIGHT
    assert later is Verdict.NEW
    assert right_after is Verdict.IN_FLIGHT  # the new owner's clock restarted


async def test_old_records_are_pruned_and_recent_ones_kept(engine: AsyncEngine) -> None:
    updates = ProcessedUpdates(RawDb(engine))
    now = utcnow()
    await updates.begin(1, now=now - KEEP - timedelta(hours=1))
    await updates.begin(2, now=now - timedelta(hours=1))
    await updates.finish(1, ok=True)
    await updates.finish(2, ok=True)

    pruned = await updates.prune(now=now)

    assert pruned == 1
    assert await updates.begin(2) is Verdict.DUPLICATE
    assert await updates.begin(1) is Verdict.NEW


async def test_with_the_polling_gate_an_update_fed_twice_is_handled_once(
    database_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    await telegram.tg.create_user(950, first_name="Anna", language_code="en")
    async with built_app(database_url, telegram.url, tmp_path) as parts:
        update = Update.model_validate(command_update(77, 950), context={"bot": parts.bot})
        await parts.dispatcher.feed_update(parts.bot, update, **{GATE_KEY: parts.updates})
        once = len(await telegram.tg.bot_messages(950))
        await parts.dispatcher.feed_update(parts.bot, update, **{GATE_KEY: parts.updates})
        twice = len(await telegram.tg.bot_messages(950))
        duplicates = parts.metrics.duplicate_updates.labels("polling")._value.get()

    assert once >= 1 and twice == once
    assert duplicates == 1


async def test_without_the_gate_the_dispatcher_handles_every_delivery(
    database_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    """The demo and tests feed updates without the gate (the emulator restarts update ids at 1)."""
    await telegram.tg.create_user(951, first_name="Anna", language_code="en")
    async with built_app(database_url, telegram.url, tmp_path) as parts:
        update = Update.model_validate(command_update(78, 951), context={"bot": parts.bot})
        await parts.dispatcher.feed_update(parts.bot, update)
        once = len(await telegram.tg.bot_messages(951))
        await parts.dispatcher.feed_update(parts.bot, update)

        assert len(await telegram.tg.bot_messages(951)) == 2 * once
