"""Broadcast domain against the Telegram emulator over HTTP (a real aiogram Bot), SQLite and PostgreSQL.

What users received is read from the emulator's call log: a broadcast reaches each chat at most once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram import Bot
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.broadcast_sender import BroadcastSender, Outcome
from aistudio.admin.broadcasts import INTERRUPTED, Broadcast, BroadcastStore, Delivery, Draft, Status
from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.config import load_settings
from aistudio.db.sql import utcnow
from aistudio.db.tables import broadcast_recipients, payments, users
from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from aistudio.sandbox.telegram.config import EmulatorConfig as TelegramConfig
from aistudio.sandbox.telegram.server import create_app as create_telegram_app
from aistudio.telegram.bot import create_bot
from aistudio.telegram.broadcast_delivery import TelegramTransport
from aistudio.telegram.handlers.admin_broadcast import parse_button
from aistudio.telegram.send_limiter import InProcessSendLimiter


@dataclass
class World:
    engine: AsyncEngine
    store: BroadcastStore
    bot: Bot
    tg: SandboxTelegramClient

    def sender(self, transport: Any = None, **kwargs: Any) -> BroadcastSender:
        options = {"lease_s": 5.0, "progress_every_s": 0.05, "global_rate": 1000.0, **kwargs}
        return BroadcastSender(self.store, transport or TelegramTransport(self.bot), InProcessSendLimiter(), **options)

    async def users(self, ids: list[int], **columns: Any) -> None:
        now = utcnow()
        rows = [
            {"id": uid, "first_name": f"U{uid}", "language": "ru", "created_at": now, "last_seen_at": now, **columns}
            for uid in ids
        ]
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(users), rows)
        for uid in ids:
            await self.tg.create_user(uid, f"U{uid}", language_code="ru")

    async def delivered(self) -> Counter[int]:
        """Successful sendMessage/sendPhoto calls per chat."""
        calls = await self.tg.calls("sendMessage,sendPhoto")
        return Counter(int(c["params"]["chat_id"]) for c in calls if c["ok"])

    async def broadcast(self, ids: list[int], rate: float = 200.0, draft: Draft | None = None) -> Broadcast:
        await self.users(ids)
        created = await self.store.create(1, draft or Draft("<b>News</b> &amp; more"), "all", rate)
        started = await self.store.start(created.id)
        assert started is not None and started.total == len(ids)
        return started


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    server = TestServer(create_telegram_app(TelegramConfig(token=DEFAULT_TOKEN)), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    settings = load_settings(database_url=database_url, telegram_bot_token=DEFAULT_TOKEN, telegram_api_base=url)
    bot = create_bot(settings)
    from aistudio.db.engine import create_engine

    engine = create_engine(database_url, pool_size=10)
    tg = SandboxTelegramClient(url)
    try:
        yield World(engine, BroadcastStore(engine), bot, tg)
    finally:
        await tg.aclose()
        await bot.session.close()
        await engine.dispose()
        await server.close()


async def test_segment_sizes_count_exactly_who_each_segment_names(world: World) -> None:
    now = utcnow()
    await world.users([1, 2, 3])  # seen now, Russian
    await world.users([4], last_seen_at=now - timedelta(days=10), language="en")
    await world.users([5], last_seen_at=now - timedelta(days=40), language="en")
    await world.users([6], is_banned=True)  # never in any segment
    ledger = Ledger(world.engine)
    for uid in (2, 4, 6):
        await ledger.accounts.open_wallet(uid)
        await ledger.credit(f"t:{uid}", uid, 500, Operator.TOPUPS_MANUAL)
    await ledger.accounts.open_wallet(3)
    await ledger.credit("t:3", 3, 100, Operator.TOPUPS_MANUAL)
    await ledger.debit("d:3", 3, 100, Operator.REVENUE)  # back to zero: not "with balance"
    async with world.engine.begin() as conn:
        for uid, status, provider in ((2, "credited", "stars"), (5, "credited", "manual"), (1, "rejected", "stars")):
            await conn.execute(
                sa.insert(payments).values(
                    user_id=uid,
                    provider=provider,
                    external_id=f"x{uid}",
                    status=status,
                    amount_kopecks=500,
                    currency="RUB",
                    provider_amount=500,
                    created_at=now,
                    updated_at=now,
                )
            )

    sizes = await world.store.segment_sizes()

    assert sizes == {"all": 5, "active7": 3, "active30": 4, "paid": 2, "balance": 2, "lang:ru": 3, "lang:en": 2}
    paid = await world.store.create(1, Draft("hi"), "paid", 10)
    started = await world.store.start(paid.id)
    assert started is not None and started.total == 2
    async with world.engine.connect() as conn:
        ids = (await conn.execute(sa.select(broadcast_recipients.c.user_id).order_by("user_id"))).scalars().all()
    assert ids == [2, 5]


async def test_everyone_gets_it_once_at_the_configured_rate_and_blocked_users_are_counted(world: World) -> None:
    ids = list(range(101, 113))
    draft = Draft("<b>Sale</b> 5 &lt; 7", button_text="Open", button_url="https://example.com/sale")
    b = await world.broadcast(ids, rate=20.0, draft=draft)
    await world.tg.block(105)

    started = time.monotonic()
    assert await world.sender().drive(b.id) is Status.DONE
    elapsed = time.monotonic() - started

    assert elapsed >= (len(ids) - 1) / 20.0 * 0.9  # throttled: 12 sends at 20/s take at least ~0.55 s
    delivered = await world.delivered()
    assert set(delivered) == set(ids) - {105} and max(delivered.values()) == 1
    final = await world.store.get(b.id)
    assert final is not None and (final.status, final.sent, final.blocked, final.failed) == (Status.DONE, 11, 1, 0)
    message = (await world.tg.bot_messages(101))[-1]
    assert message["text"] == "Sale 5 < 7" and message["keyboard"]["rows"][0][0]["url"] == "https://example.com/sale"


async def test_retry_after_is_honoured_and_the_same_user_retried(world: World) -> None:
    ids = list(range(201, 209))
    b = await world.broadcast(ids)
    # Telegram's flood control, tighter than the broadcast's rate: some sends get 429 retry_after.
    await world.tg.configure(rate_limits=True, global_rate=6.0, global_burst=3, per_chat_burst=5)

    assert await world.sender().drive(b.id) is Status.DONE

    calls = await world.tg.calls("sendMessage")
    assert any(not c["ok"] and c["error"]["error_code"] == 429 for c in calls)
    delivered = await world.delivered()
    assert set(delivered) == set(ids) and max(delivered.values()) == 1
    final = await world.store.get(b.id)
    assert final is not None and (final.sent, final.failed) == (8, 0)


async def test_pause_resume_and_cancel_take_effect_between_batches(world: World) -> None:
    ids = list(range(301, 331))
    b = await world.broadcast(ids, rate=10.0)
    sender = world.sender(concurrency=1)

    driving = asyncio.create_task(sender.drive(b.id))
    await _until(lambda: _sent_at_least(world, 3))
    assert await world.store.pause(b.id)
    assert await asyncio.wait_for(driving, 5) is Status.PAUSED
    paused_at = sum((await world.delivered()).values())
    assert await world.store.due() == []  # a paused broadcast is not picked up
    await asyncio.sleep(0.3)
    assert sum((await world.delivered()).values()) == paused_at

    assert await world.store.resume(b.id)
    assert await world.store.due() == [b.id]
    driving = asyncio.create_task(sender.run_due())
    await _until(lambda: _sent_at_least(world, paused_at + 3))
    assert await world.store.cancel(b.id)
    await asyncio.wait_for(driving, 5)

    final = await world.store.get(b.id)
    delivered = await world.delivered()
    assert final is not None and final.status is Status.CANCELLED
    assert final.sent == sum(delivered.values()) < len(ids) and max(delivered.values()) == 1
    assert await world.store.due() == [] and not await world.store.resume(b.id)


class StallingTransport(TelegramTransport):
    """Sends for real until `after` messages went out, then hangs mid-send like a process about to die."""

    def __init__(self, bot: Bot, after: int) -> None:
        super().__init__(bot)
        self.after = after
        self.stalled = asyncio.Event()

    async def send(self, user_id: int, broadcast: Broadcast) -> Outcome:
        if self.after <= 0:
            self.stalled.set()
            await asyncio.Event().wait()
        self.after -= 1
        return await super().send(user_id, broadcast)


async def test_a_crash_mid_broadcast_resumes_and_nobody_gets_it_twice(world: World) -> None:
    ids = list(range(401, 421))
    b = await world.broadcast(ids, rate=100.0)
    stalling = StallingTransport(world.bot, after=7)
    doomed = world.sender(stalling, lease_s=0.5, concurrency=1)

    async def never_release(broadcast_id: int, owner: str) -> None:  # a killed process releases nothing
        return None

    doomed_store = BroadcastStore(world.engine)
    doomed_store.release = never_release  # type: ignore[method-assign]
    doomed.store = doomed_store
    crashed = asyncio.create_task(doomed.drive(b.id))
    await asyncio.wait_for(stalling.stalled.wait(), 5)
    crashed.cancel()  # the process dies with one row `sending`
    await asyncio.gather(crashed, return_exceptions=True)

    survivor = world.sender(concurrency=3)
    assert await survivor.drive(b.id) is None  # the dead owner's lease is still live
    await _until(lambda: _due(world.store, b.id), within=5)
    assert await survivor.run_due() == 1

    delivered = await world.delivered()
    assert max(delivered.values()) == 1 and len(delivered) == len(ids) - 1
    final = await world.store.get(b.id)
    assert final is not None and (final.status, final.sent, final.failed) == (Status.DONE, 19, 1)
    async with world.engine.connect() as conn:
        lost = (
            await conn.execute(
                sa.select(broadcast_recipients.c.user_id, broadcast_recipients.c.error).where(
                    broadcast_recipients.c.status == Delivery.FAILED.value
                )
            )
        ).all()  # fmt: skip
    assert lost == [(ids[7], INTERRUPTED)] and ids[7] not in delivered


async def _sent_at_least(world: World, n: int) -> bool:
    return sum((await world.delivered()).values()) >= n


async def _due(store: BroadcastStore, broadcast_id: int) -> bool:
    return broadcast_id in await store.due()


async def _until(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Open | https://example.com/a?b=1", ("Open", "https://example.com/a?b=1")),
        ("  Сайт|http://пример.рф  ", ("Сайт", "http://пример.рф")),
        ("Open https://example.com", None),  # no separator
        ("Open | ftp://example.com", None),
        ("Open | https://localhost:8080", None),  # Telegram refuses hosts without a dot
        ("Open | javascript:alert(1)", None),
        (" | https://example.com", None),
        ("x" * 65 + " | https://example.com", None),
    ],
)
def test_the_link_button_needs_text_and_an_http_url(raw: str, expected: tuple[str, str] | None) -> None:
    assert parse_button(raw) == expected
