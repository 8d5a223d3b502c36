"""The Redis limiter against the real Redis on 127.0.0.1:6379, one key prefix per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Hashable

import pytest
from redis.asyncio import Redis

from aistudio.kie.limiter import make_limiter
from aistudio.kie.limiter_redis import RedisLimiter
from tests.kie.test_limiter import FakeClock

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def make(redis: Redis) -> AsyncIterator[Callable[..., RedisLimiter]]:
    """Limiters sharing one fresh key prefix, as replicas of one deployment would."""
    prefix = f"test:kie-limiter:{uuid.uuid4().hex}"
    made: list[RedisLimiter] = []

    def build(**kwargs: object) -> RedisLimiter:
        limiter = RedisLimiter(redis, prefix=prefix, poll_interval=0.01, **kwargs)  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.close()
    keys = [key async for key in redis.scan_iter(match="{" + prefix + "}*")]
    if keys:
        await redis.delete(*keys)


class Launches:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.granted: list[tuple[Hashable, float]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()

    def start(self, limiter: RedisLimiter, user: Hashable, count: int = 1) -> None:
        for _ in range(count):
            self.tasks.append(asyncio.create_task(self._one(limiter, user)))

    async def _one(self, limiter: RedisLimiter, user: Hashable) -> None:
        async with limiter.slot(user):
            self.granted.append((user, self.clock.now))
            self.changed.set()

    async def until(self, count: int) -> None:
        """Wait (at most 2 s) until `count` launches got their slot."""
        async with asyncio.timeout(2.0):
            while len(self.granted) < count:
                self.changed.clear()
                await self.changed.wait()

    async def quiet(self) -> None:
        """Give pumps time to grant more, if they (wrongly) would."""
        await asyncio.sleep(0.05)

    @property
    def order(self) -> str:
        return "".join(str(user) for user, _ in self.granted)


async def test_redis_limiter_grants_at_most_limit_per_window(make: Callable[..., RedisLimiter]) -> None:
    clock = FakeClock()
    limiter = make(limit=3, period=10.0, clock=clock)
    launches = Launches(clock)

    launches.start(limiter, "a", 7)
    await launches.until(3)
    await launches.quiet()
    first = len(launches.granted)
    clock.advance(10.01)
    await launches.until(6)
    await launches.quiet()
    second = len(launches.granted)
    clock.advance(10.01)
    await launches.until(7)

    assert (first, second) == (3, 6)


async def test_redis_limiter_alternates_between_users(make: Callable[..., RedisLimiter]) -> None:
    clock = FakeClock()
    limiter = make(limit=2, period=10.0, clock=clock)
    launches = Launches(clock)

    launches.start(limiter, "A", 6)
    await launches.until(2)
    await launches.quiet()  # every A ticket is queued before B's
    launches.start(limiter, "B", 2)
    await launches.quiet()
    for expected in (4, 6, 8):
        clock.advance(10.01)
        await launches.until(expected)

    assert launches.order == "AAABABAA"


async def test_two_processes_share_one_window(make: Callable[..., RedisLimiter]) -> None:
    clock = FakeClock()
    replica_1 = make(limit=3, period=10.0, clock=clock)
    replica_2 = make(limit=3, period=10.0, clock=clock)
    launches = Launches(clock)

    launches.start(replica_1, "a", 3)
    launches.start(replica_2, "b", 3)
    await launches.until(3)
    await launches.quiet()
    at_start = len(launches.granted)
    clock.advance(10.01)
    await launches.until(6)

    assert at_start == 3
    assert sorted(launches.order) == ["a", "a", "a", "b", "b", "b"]


async def test_ticket_of_a_crashed_process_expires_instead_of_taking_a_slot(
    make: Callable[..., RedisLimiter],
) -> None:
    clock = FakeClock()
    limiter = make(limit=1, period=10.0, clock=clock, ticket_ttl=5.0)
    # A ticket queued by a process that died: nobody refreshes it.
    await limiter._enqueue_script(
        keys=[limiter._keys[1], limiter._keys[2]],
        args=["ghost", "ghost-ticket", clock() + 5.0, limiter._queue_prefix],
    )
    clock.advance(6.0)
    launches = Launches(clock)

    launches.start(limiter, "live")
    await launches.until(1)

    assert launches.order == "live"


async def test_redis_position_counts_users_ahead(make: Callable[..., RedisLimiter]) -> None:
    clock = FakeClock()
    limiter = make(limit=1, period=10.0, clock=clock)
    launches = Launches(clock)

    launches.start(limiter, "A", 3)
    await launches.until(1)
    await launches.quiet()
    launches.start(limiter, "B")
    await launches.quiet()

    assert await limiter.position("A") == 0
    assert await limiter.position("B") == 1
    assert await limiter.position("C") == 0


async def test_cancelled_redis_waiter_leaves_the_queue(make: Callable[..., RedisLimiter], redis: Redis) -> None:
    clock = FakeClock()
    limiter = make(limit=1, period=10.0, clock=clock)
    launches = Launches(clock)

    launches.start(limiter, "A", 2)
    await launches.until(1)
    await launches.quiet()
    # Either launch may have been queued first; cancel the one still waiting.
    [waiting] = [task for task in launches.tasks if not task.done()]
    waiting.cancel()
    async with asyncio.timeout(2.0):
        await asyncio.gather(*launches.tasks, return_exceptions=True)

    assert await redis.llen(limiter._queue_prefix + "A") == 0
    assert await limiter.position("A") == 0
    assert await redis.llen(limiter._keys[1]) == 0


async def test_make_limiter_with_a_redis_url_is_redis_backed(redis: Redis) -> None:
    prefix = f"test:kie-limiter:{uuid.uuid4().hex}"
    limiter = make_limiter(5, 10.0, redis_url=REDIS_URL, prefix=prefix)
    try:
        assert isinstance(limiter, RedisLimiter)
        await asyncio.wait_for(limiter.acquire("smoke"), timeout=2.0)
        assert await redis.zcard("{" + prefix + "}:window") == 1
    finally:
        await limiter.close()
        await redis.delete(*[key async for key in redis.scan_iter(match="{" + prefix + "}*")])
