"""The fair Kie task limiter shared by several processes through Redis.

State lives in Redis so every replica sees one window and one queue:
- `window` (sorted set): tickets granted in the last `period` seconds, scored by grant time;
- `users` (list): users with waiting tickets, in round-robin order;
- `q:<user>` (list): that user's waiting tickets, FIFO;
- `alive` (sorted set): waiting tickets scored by an expiry their owner keeps pushing forward, so the
  tickets of a crashed process are dropped instead of eating slots;
- `granted` (sorted set): tickets granted but not yet picked up by their owner.

Each process runs one pump task while it has waiters. A pump call (one Lua script, atomic) grants as many
tickets as the window allows, in round-robin order and for any process, then claims this process's
granted tickets. Any process's pump serves everyone, so the queue keeps moving if one replica stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from aistudio.kie.errors import KieUnavailable
from aistudio.kie.limiter import DEFAULT_LIMIT, DEFAULT_PERIOD

log = logging.getLogger(__name__)

# KEYS: window, users, alive, granted. ARGV: now, limit, period, alive_ttl, queue key prefix, own tickets...
_PUMP = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local qprefix = ARGV[5]
for i = 6, #ARGV do
  redis.call('ZADD', KEYS[3], 'XX', now + ttl, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 3600)
local used = redis.call('ZCARD', KEYS[1])
while used < limit do
  local user = redis.call('LPOP', KEYS[2])
  if not user then break end
  local q = qprefix .. user
  local ticket = redis.call('LPOP', q)
  if ticket then
    if redis.call('LLEN', q) > 0 then redis.call('RPUSH', KEYS[2], user) end
    local expiry = redis.call('ZSCORE', KEYS[3], ticket)
    redis.call('ZREM', KEYS[3], ticket)
    if expiry and tonumber(expiry) >= now then
      redis.call('ZADD', KEYS[1], now, ticket)
      redis.call('ZADD', KEYS[4], now, ticket)
      used = used + 1
    end
  end
end
local claimed = {}
for i = 6, #ARGV do
  if redis.call('ZREM', KEYS[4], ARGV[i]) == 1 then table.insert(claimed, ARGV[i]) end
end
local next_free = ''
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] then next_free = tostring(tonumber(oldest[2]) + period) end
end
return {claimed, next_free}
"""

# KEYS: users, alive. ARGV: user, ticket, expiry, queue key prefix.
_ENQUEUE = """
local q = ARGV[4] .. ARGV[1]
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if redis.call('RPUSH', q, ARGV[2]) == 1 then
  if not redis.call('LPOS', KEYS[1], ARGV[1]) then redis.call('RPUSH', KEYS[1], ARGV[1]) end
end
return 1
"""

# KEYS: users, alive, granted. ARGV: user, ticket, queue key prefix.
_CANCEL = """
local q = ARGV[3] .. ARGV[1]
redis.call('LREM', q, 0, ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('LLEN', q) == 0 then redis.call('LREM', KEYS[1], 0, ARGV[1]) end
return 1
"""


class LimiterUnavailable(KieUnavailable):
    """Redis could not be reached, so no launch slot could be granted."""


class RedisLimiter:
    """Fair sliding-window limiter in Redis; same interface as `InProcessLimiter`."""

    def __init__(
        self,
        redis: Redis,
        *,
        limit: int = DEFAULT_LIMIT,
        period: float = DEFAULT_PERIOD,
        prefix: str = "aistudio:kie:limiter",
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.25,
        ticket_ttl: float = 30.0,
        max_errors: int = 3,
        owns_redis: bool = False,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self._redis = redis
        self._limit = limit
        self._period = period
        # A hash tag keeps every key in one cluster slot, as the scripts touch several of them.
        base = "{" + prefix + "}"
        self._keys = [f"{base}:window", f"{base}:users", f"{base}:alive", f"{base}:granted"]
        self._queue_prefix = f"{base}:q:"
        self._clock = clock
        self._poll = poll_interval
        self._ttl = ticket_ttl
        self._max_errors = max_errors
        self._owns_redis = owns_redis
        self._pump_script = redis.register_script(_PUMP)
        self._enqueue_script = redis.register_script(_ENQUEUE)
        self._cancel_script = redis.register_script(_CANCEL)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimiter:
        return cls(Redis.from_url(url), owns_redis=True, **kwargs)

    async def acquire(self, user_id: Hashable) -> None:
        """Queue a ticket for this user and wait until some pump grants it."""
        user = str(user_id)
        ticket = uuid.uuid4().hex
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            await self._enqueue_script(
                keys=[self._keys[1], self._keys[2]],
                args=[user, ticket, self._clock() + self._ttl, self._queue_prefix],
            )
        except RedisError as exc:
            raise LimiterUnavailable(None, f"limiter storage unavailable: {exc}") from exc
        self._waiters[ticket] = future
        self.wake()
        try:
            await future
        except asyncio.CancelledError:
            self._waiters.pop(ticket, None)
            with contextlib.suppress(RedisError):
                await asyncio.shield(self._cancel_script(keys=self._keys[1:], args=[user, ticket, self._queue_prefix]))
            raise

    @asynccontextmanager
    async def slot(self, user_id: Hashable) -> AsyncIterator[None]:
        await self.acquire(user_id)
        yield

    async def position(self, user_id: Hashable) -> int:
        """Launches served before this user's next one: the users ahead of it in the round."""
        index = await self._redis.lpos(self._keys[1], str(user_id))
        return int(index) if index is not None else 0

    def wake(self) -> None:
        """Run the pump now (a new waiter, or a test advanced its clock)."""
        self._wake.set()
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._run_pump())

    async def close(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._owns_redis:
            await self._redis.aclose()

    async def _pump_once(self) -> float | None:
        """One atomic grant-and-claim round; returns when the window frees a slot, if it is full."""
        tickets = list(self._waiters)
        now = self._clock()
        claimed, next_free = await self._pump_script(
            keys=self._keys,
            args=[now, self._limit, self._period, self._ttl, self._queue_prefix, *tickets],
        )
        for raw in claimed:
            future = self._waiters.pop(raw.decode() if isinstance(raw, bytes) else raw, None)
            if future is not None and not future.done():
                future.set_result(None)
        text = next_free.decode() if isinstance(next_free, bytes) else next_free
        return float(text) if text else None

    async def _run_pump(self) -> None:
        errors = 0
        while self._waiters:
            self._wake.clear()
            try:
                next_free = await self._pump_once()
                errors = 0
            except RedisError as exc:
                errors += 1
                log.warning("kie limiter: redis error %s (%d in a row)", exc, errors)
                if errors >= self._max_errors:
                    self._fail_all(exc)
                    return
                next_free = None
            if not self._waiters:
                return
            delay = self._poll
            if next_free is not None:
                delay = min(self._poll, max(0.005, next_free - self._clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _fail_all(self, exc: Exception) -> None:
        waiters, self._waiters = self._waiters, {}
        for future in waiters.values():
            if not future.done():
                future.set_exception(LimiterUnavailable(None, f"limiter storage unavailable: {exc}"))
