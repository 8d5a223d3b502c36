"""Keep new Kie tasks within the account limit (20 per 10 s) with a fair queue across users.

Kie rejects the 21st create request in a 10-second window with 429 instead of queueing it, so we queue
before calling Kie. Waiters are served round-robin between users: one user launching 50 generations gets
one slot per turn, and a second user's first launch waits for at most one turn, not for all 50.

Usage: `async with limiter.slot(user_id): await gateway.submit(...)` (the slot is spent when granted:
Kie counts requests, not running tasks). `await limiter.position(user_id)` tells the UI how many
launches will be served before this user's next one.

Two implementations share this interface: `InProcessLimiter` for a single process and
`RedisLimiter` (in `limiter_redis`) when several replicas share one Kie account.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 20
DEFAULT_PERIOD = 10.0


class TaskLimiter(Protocol):
    """What the generation service needs from a limiter."""

    async def acquire(self, user_id: Hashable) -> None: ...

    def slot(self, user_id: Hashable) -> Any: ...

    async def position(self, user_id: Hashable) -> int: ...

    async def close(self) -> None: ...


class SlidingWindow:
    """Grant times within the last `period` seconds; at most `limit` of them."""

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._grants: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._grants and self._grants[0] <= now - self.period:
            self._grants.popleft()

    def available(self, now: float) -> int:
        self._trim(now)
        return self.limit - len(self._grants)

    def take(self, now: float) -> None:
        self._grants.append(now)

    def next_free_at(self, now: float) -> float:
        """When the next slot opens (now, if one is free)."""
        if self.available(now) > 0:
            return now
        return self._grants[0] + self.period


class FairQueue(Generic[T]):
    """Waiting items per user, popped round-robin between users (each user FIFO inside)."""

    def __init__(self) -> None:
        self._queues: OrderedDict[Hashable, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, user: Hashable, item: T) -> None:
        self._queues.setdefault(user, deque()).append(item)
        self._size += 1

    def pop(self) -> tuple[Hashable, T]:
        """The next item in round-robin order; the served user goes to the back of the round."""
        user, items = next(iter(self._queues.items()))
        item = items.popleft()
        self._size -= 1
        if items:
            self._queues.move_to_end(user)
        else:
            del self._queues[user]
        return user, item

    def remove(self, user: Hashable, item: T) -> bool:
        items = self._queues.get(user)
        if items is None or item not in items:
            return False
        items.remove(item)
        self._size -= 1
        if not items:
            del self._queues[user]
        return True

    def ahead_of(self, user: Hashable) -> int:
        """Items served before this user's first waiting item: one per user ahead in the round."""
        for index, key in enumerate(self._queues):
            if key == user:
                return index
        return 0


class InProcessLimiter:
    """The fair limiter for one process; `clock` is injectable so tests can drive time."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        period: float = DEFAULT_PERIOD,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._window = SlidingWindow(limit, period)
        self._queue: FairQueue[asyncio.Future[None]] = FairQueue()
        self._clock = clock
        self._timer: asyncio.TimerHandle | None = None

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def acquire(self, user_id: Hashable) -> None:
        """Wait for this user's turn and a free slot in the window."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.push(user_id, future)
        self._dispatch()
        try:
            await future
        except asyncio.CancelledError:
            # A waiter that gave up leaves the queue; if it was granted meanwhile the slot is lost,
            # which only errs on the safe side of Kie's limit.
            self._queue.remove(user_id, future)
            raise

    @asynccontextmanager
    async def slot(self, user_id: Hashable) -> AsyncIterator[None]:
        await self.acquire(user_id)
        yield

    async def position(self, user_id: Hashable) -> int:
        return self._queue.ahead_of(user_id)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def wake(self) -> None:
        """Re-check the window now (after a test advanced its clock)."""
        self._dispatch()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _dispatch(self) -> None:
        now = self._now()
        while len(self._queue) and self._window.available(now) > 0:
            _, future = self._queue.pop()
            if future.done():  # cancelled while waiting
                continue
            self._window.take(now)
            future.set_result(None)
        if len(self._queue) and self._timer is None:
            delay = max(0.0, self._window.next_free_at(now) - now)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()


def make_limiter(
    limit: int = DEFAULT_LIMIT,
    period: float = DEFAULT_PERIOD,
    *,
    redis_url: str | None = None,
    **redis_options: Any,
) -> TaskLimiter:
    """The Redis-backed limiter when a Redis URL is configured (several replicas), else in-process.

    `redis_options` go to `RedisLimiter` (e.g. `prefix` to separate deployments sharing one Redis).
    """
    if redis_url:
        from aistudio.kie.limiter_redis import RedisLimiter

        return RedisLimiter.from_url(redis_url, limit=limit, period=period, **redis_options)
    return InProcessLimiter(limit, period)
