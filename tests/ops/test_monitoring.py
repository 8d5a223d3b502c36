"""Monitoring: the Kie balance and 402 alerts through the sandbox (once, not on every poll), and the
per-model failure-rate alert on the events of the last hour."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import generation_events, generations, users
from aistudio.generation.states import State
from aistudio.ops.monitoring import Monitor
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import until

ADMIN = 900
_SEQ = itertools.count(1)


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,), kie_balance_alert_credits=500) as running:
        await running.user(ADMIN, lang="en", balance_rub=1)
        yield running


def job(bot: Bot, name: str) -> Any:
    return next(j for j in bot.parts.jobs if j.name == name)


async def admin_texts(bot: Bot) -> list[str]:
    return [m.get("text") or "" for m in await bot.tg.bot_messages(ADMIN)]


async def test_low_kie_balance_alerts_once_per_crossing_and_the_recovery_is_noted(bot: Bot) -> None:
    poll = job(bot, "monitor.kie_balance").run
    assert await poll() == Decimal(100000)
    assert await admin_texts(bot) == []

    await bot.kie("POST", "/sandbox/credits", {"credits": 120})
    for _ in range(3):
        assert await poll() == Decimal(120)

    await bot.kie("POST", "/sandbox/credits", {"credits": 5000})
    await poll()
    await poll()

    texts = await admin_texts(bot)
    assert [t.split(":")[0] for t in texts] == ["⚠️ Kie balance is low", "✅ Kie balance recovered"]
    assert "120 credits (threshold 500)" in texts[0] and "5000 credits" in texts[1]
    gauge = bot.parts.metrics.registry.get_sample_value("aistudio_kie_credit_balance")
    assert gauge is not None and math.isclose(gauge, 5000)


async def test_out_of_credits_answers_alert_the_admins_once(bot: Bot) -> None:
    user = await bot.user(60, lang="en", balance_rub=100)
    await bot.kie("POST", "/sandbox/faults", {"insufficient_credits_next": 2})
    service = bot.parts.generations
    launched = []
    for _ in range(2):
        offer = await service.offer("google/nano-banana", {"prompt": "a red fox in the snow"})
        launched.append(await service.launch(user, offer, chat_id=user))

    async def both_failed() -> bool:
        found = [await service.get(g.id) for g in launched]
        return all(g is not None and g.state == State.FAILED for g in found)

    await until(both_failed, within=15)

    texts = await admin_texts(bot)
    assert len([t for t in texts if "out of credits" in t]) == 1
    assert await bot.available(user) == 100 * 100  # refunded, never charged
    assert await bot.books_balanced()


class Alerts:
    def __init__(self) -> None:
        self.models: list[tuple[str, int, int]] = []

    async def model_failing(self, model_id: str, failed: int, finished: int) -> None:
        self.models.append((model_id, failed, finished))


async def _events(engine: AsyncEngine, model: str, states: list[str], *, age: timedelta = timedelta(0)) -> None:
    now = utcnow() - age
    async with engine.begin() as conn:
        await conn.execute(
            insert_ignore(conn, users, ["id"]).values(id=1, language="en", created_at=now, last_seen_at=now)
        )
        for state in states:
            gen_id = (
                await conn.execute(
                    sa.insert(generations)
                    .values(
                        request_id=f"RQ-{next(_SEQ):08d}", user_id=1,
                        model_id=model, family="market", inputs={}, state=state, credits=1, price_kopecks=1,
                        fx_rub_per_usd=95, markup=2, created_at=now, updated_at=now,
                    )
                    .returning(generations.c.id)
                )
            ).scalar_one()  # fmt: skip
            await conn.execute(
                sa.insert(generation_events).values(
                    generation_id=gen_id, request_id="RQ-x", user_id=1, model_id=model, state=state, created_at=now
                )
            )


async def test_a_model_failing_over_the_threshold_alerts_once_per_hour(engine: AsyncEngine) -> None:
    await _events(engine, "bad/model", ["failed"] * 3 + ["completed"])
    await _events(engine, "fine/model", ["failed"] + ["completed"] * 5)
    await _events(engine, "few/model", ["failed"] * 2)  # 100 % but under the minimum count
    await _events(engine, "old/model", ["failed"] * 5, age=timedelta(hours=2))  # outside the window
    alerts = Alerts()
    monitor = Monitor(
        engine,
        alerts,
        kie_balance=None,
        low_credits=Decimal(0),
        failure_rate=0.5,
        failure_min_count=3,  # type: ignore[arg-type]
    )

    first = await monitor.check_failure_rates()
    second = await monitor.check_failure_rates()

    assert [(f.model_id, f.failed, f.finished) for f in first] == [("bad/model", 3, 4)]
    assert second == [] and alerts.models == [("bad/model", 3, 4)]
    later = Monitor(
        engine, alerts, kie_balance=None, low_credits=Decimal(0), failure_rate=0.5, failure_min_count=3,  # type: ignore[arg-type]
        clock=lambda: utcnow() + timedelta(minutes=61),
    )  # fmt: skip
    await _events(engine, "bad/model", ["failed"] * 3, age=timedelta(minutes=-61))
    assert [f.model_id for f in await later.check_failure_rates()] == ["bad/model"]
