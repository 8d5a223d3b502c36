"""The Telegram send limiter: in-process (driven by a fake clock) and in Redis, shared by two instances."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from aistudio.telegram.send_limiter import (
    Budget,
    InProcessSendLimiter,
    RedisSendLimiter,
    make_send_limiter,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_reserved_in_order_at_the_rate_after_the_burst() -> None:
    clock = FakeClock()
    limiter = InProcessSendLimiter(clock=clock)
    budget = Budget("b", rate=10.0, burst=3)

    waits = [limiter.reserve((budget,)) for _ in range(6)]

    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 10  # a quiet spell refills the burst, never more
    assert [limiter.reserve((budget,)) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_the_slowest_budget_decides_and_hold_off_pushes_a_bucket_back() -> None:
    clock = FakeClock()
    limiter = InProcessSendLimiter(clock=clock)
    fast, slow = Budget("global", 30.0), Budget("broadcast", 5.0)

    assert limiter.reserve((fast, slow)) == 0.0
    assert limiter.reserve((fast, slow)) == pytest.approx(0.2)
    asyncio.run(limiter.hold_off("global", 3.0))
    assert limiter.reserve((fast,)) == pytest.approx(3.0)


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[RedisSendLimiter, RedisSendLimiter]]:
    prefix = f"test:send:{uuid.uuid4().hex}"
    a, b = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    yield RedisSendLimiter(a, prefix=prefix), RedisSendLimiter(b, prefix=prefix)
    keys = [key async for key in a.scan_iter(match="{" + prefix + "}*")]
    if keys:
        await a.delete(*keys)
    await a.aclose()
    await b.aclose()


async def test_two_instances_share_one_budget_in_redis(redis_pair: tuple[RedisSendLimiter, RedisSendLimiter]) -> None:
    first, second = redis_pair
    budget = Budget("broadcast:1", rate=40.0)
    started = time.monotonic()

    await asyncio.gather(*(limiter.acquire(budget) for _ in range(10) for limiter in (first, second)))

    elapsed = time.monotonic() - started
    assert elapsed >= 19 / 40 * 0.9  # 20 tokens at 40/s between them, not 20 at 40/s each
    assert elapsed < 2.0


async def test_hold_off_in_redis_delays_the_other_instance(
    redis_pair: tuple[RedisSendLimiter, RedisSendLimiter],
) -> None:
    first, second = redis_pair
    budget = Budget("tg:global", rate=1000.0)
    await first.hold_off("tg:global", 0.4)
    started = time.monotonic()
    waited = await second.acquire(budget)
    assert waited == pytest.approx(0.4, abs=0.05) and time.monotonic() - started >= 0.35


async def test_redis_outage_falls_back_to_the_process_own_budget() -> None:
    limiter = make_send_limiter("redis://127.0.0.1:1/0")  # nothing listens there
    assert isinstance(limiter, RedisSendLimiter)
    budget = Budget("b", rate=20.0)
    started = time.monotonic()
    waits = [await limiter.acquire(budget) for _ in range(3)]
    elapsed = time.monotonic() - started
    await limiter.close()
    # Still limited: the third send comes no sooner than 0.05 s after the first, however long each failed
    # connection attempt to Redis took (time spent there counts towards the budget's spacing).
    assert waits[0] == 0.0 and elapsed >= 0.045 and sum(waits) <= 0.1 + 0.01
    assert isinstance(make_send_limiter(None), InProcessSendLimiter)
