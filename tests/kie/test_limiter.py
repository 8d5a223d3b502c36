"""The in-process launch limiter: at most N per window, round-robin between users, driven by a fake clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

import pytest

from aistudio.kie.limiter import FairQueue, InProcessLimiter, SlidingWindow, make_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle() -> None:
    """Let every ready coroutine run (grants resolve futures; waiters then record themselves)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Launches:
    """Starts acquire() calls and records who got a slot, in order, at which (fake) time."""

    def __init__(self, limiter: InProcessLimiter, clock: FakeClock) -> None:
        self.limiter = limiter
        self.clock = clock
        self.granted: list[tuple[Hashable, float]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, user: Hashable, count: int = 1) -> None:
        for _ in range(count):
            self.tasks.append(asyncio.create_task(self._one(user)))

    async def _one(self, user: Hashable) -> None:
        async with self.limiter.slot(user):
            self.granted.append((user, self.clock.now))

    async def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.limiter.wake()
        await settle()

    @property
    def order(self) -> str:
        return "".join(str(user) for user, _ in self.granted)


def test_sliding_window_frees_a_slot_one_period_after_each_grant() -> None:
    window = SlidingWindow(limit=2, period=10.0)
    window.take(0.0)
    window.take(4.0)

    assert window.available(9.9) == 0
    assert window.next_free_at(9.9) == 10.0
    assert window.available(10.0) == 1
    assert window.available(14.0) == 2


def test_fair_queue_serves_users_round_robin() -> None:
    queue: FairQueue[str] = FairQueue()
    for item in ("a1", "a2", "a3"):
        queue.push("a", item)
    queue.push("b", "b1")

    served = [queue.pop()[1] for _ in range(4)]

    assert served == ["a1", "b1", "a2", "a3"]
    assert len(queue) == 0


async def test_never_more_than_limit_grants_in_any_window() -> None:
    clock = FakeClock()
    launches = Launches(InProcessLimiter(3, 10.0, clock=clock), clock)

    launches.start("a", 8)
    await settle()
    first = len(launches.granted)
    await launches.tick(5.0)
    halfway = len(launches.granted)
    await launches.tick(5.0)
    await launches.tick(10.0)

    assert (first, halfway) == (3, 3)
    assert len(launches.granted) == 8
    times = [at for _, at in launches.granted]
    assert all(sum(1 for t in times if start <= t < start + 10.0) <= 3 for start in times)


async def test_second_user_is_not_starved_by_a_burst_of_the_first() -> None:
    clock = FakeClock()
    launches = Launches(InProcessLimiter(2, 10.0, clock=clock), clock)

    launches.start("A", 6)
    await settle()
    launches.start("B", 2)
    await settle()
    for _ in range(3):
        await launches.tick(10.0)

    # A's first two went at once; then turns alternate while both wait. FIFO would give AAAAAABB.
    assert launches.order == "AAABABAA"


async def test_position_counts_the_users_ahead_in_the_round() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(1, 10.0, clock=clock)
    launches = Launches(limiter, clock)

    launches.start("A", 3)
    await settle()
    launches.start("B", 1)
    await settle()

    assert await limiter.position("A") == 0
    assert await limiter.position("B") == 1
    assert await limiter.position("C") == 0  # not waiting at all
    assert limiter.waiting == 3
    for task in launches.tasks:
        task.cancel()
    await settle()


async def test_cancelled_waiter_gives_its_turn_to_the_next_user() -> None:
    clock = FakeClock()
    limiter = InProcessLimiter(1, 10.0, clock=clock)
    launches = Launches(limiter, clock)

    launches.start("A", 2)
    await settle()
    launches.start("B", 1)
    await settle()
    launches.tasks[1].cancel()  # A's second launch gives up
    await settle()
    await launches.tick(10.0)

    assert launches.order == "AB"
    assert limiter.waiting == 0


async def test_real_timer_releases_waiters_without_a_wake_call() -> None:
    limiter = InProcessLimiter(2, 0.2)
    started = time.monotonic()

    async def launch() -> float:
        await limiter.acquire("u")
        return time.monotonic() - started

    times = sorted(await asyncio.gather(*(launch() for _ in range(5))))
    await limiter.close()

    assert times[1] < 0.1
    assert times[2] >= 0.19
    assert times[4] >= 0.39


def test_make_limiter_without_redis_is_in_process() -> None:
    assert isinstance(make_limiter(20, 10.0), InProcessLimiter)


def test_limiter_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError):
        InProcessLimiter(0, 10.0)
