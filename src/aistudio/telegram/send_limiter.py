"""Outgoing Telegram message budgets, shared by every replica when Redis is configured.

Telegram allows a bot about 30 messages per second overall (and answers 429 `retry_after` beyond it); a
broadcast adds its own, lower rate. Each budget is a named bucket with a rate and a burst, kept as GCRA
(a "theoretical arrival time" per bucket): taking a token reserves the next free instant and says how long
to wait for it, so waiters are served in order and the sustained rate is exact.

`await limiter.acquire(Budget("tg:global", 30), Budget("broadcast:7", 25))` reserves one token in each
and sleeps until all are due. A reserved token is never given back (a cancelled waiter errs on the slow
side). `hold_off(name, seconds)` pushes a bucket back after Telegram said `retry_after`, for everyone.

`InProcessSendLimiter` serves one process; `RedisSendLimiter` keeps the buckets in Redis (one Lua script,
Redis's own clock) so N replicas share them, and falls back to its in-process twin if Redis fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TELEGRAM_GLOBAL = "tg:global"
TELEGRAM_GLOBAL_RATE = 30.0  # Telegram's documented bulk limit, messages per second per bot


@dataclass(frozen=True)
class Budget:
    """A named bucket: `rate` tokens per second, at most `burst` taken at once after a quiet spell."""

    name: str
    rate: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")


def telegram_global() -> Budget:
    return Budget(TELEGRAM_GLOBAL, TELEGRAM_GLOBAL_RATE, 1.0)


class SendLimiter(Protocol):
    async def acquire(self, *budgets: Budget) -> float:
        """Reserve one token in each budget and sleep until all are due; returns the seconds waited."""
        ...

    async def hold_off(self, name: str, seconds: float) -> None:
        """No token of `name` is due before `seconds` from now (Telegram said `retry_after`)."""
        ...

    async def close(self) -> None: ...


class InProcessSendLimiter:
    """GCRA buckets in this process; `clock` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    def reserve(self, budgets: tuple[Budget, ...]) -> float:
        """Take one token from each budget now; the wait until the last of them is due."""
        now = self._clock()
        wait = 0.0
        for budget in budgets:
            interval = 1.0 / budget.rate
            tat = max(self._tat.get(budget.name, now), now) + interval
            self._tat[budget.name] = tat
            wait = max(wait, tat - budget.burst * interval - now)
        return wait

    async def acquire(self, *budgets: Budget) -> float:
        wait = self.reserve(budgets)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def hold_off(self, name: str, seconds: float) -> None:
        self._tat[name] = max(self._tat.get(name, 0.0), self._clock() + seconds)

    async def close(self) -> None:
        return None


# KEYS: one bucket key per budget. ARGV: pairs of (interval, burst) in the same order.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tat = tat + interval
  redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
  local w = tat - burst * interval - now
  if w > wait then wait = w end
end
return string.format('%.6f', wait)
"""

# KEYS: the bucket. ARGV: seconds.
_HOLD_OFF = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ then
  redis.call('SET', KEYS[1], string.format('%.6f', until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class RedisSendLimiter:
    """The same buckets in Redis, shared by every process using the same `prefix`."""

    def __init__(self, redis: Redis, *, prefix: str = "aistudio:tg:send", owns_redis: bool = False) -> None:
        self._redis = redis
        self._prefix = "{" + prefix + "}"  # one hash slot: the script touches several keys
        self._owns_redis = owns_redis
        self._reserve = redis.register_script(_RESERVE)
        self._hold_off = redis.register_script(_HOLD_OFF)
        self._fallback = InProcessSendLimiter()

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> RedisSendLimiter:
        return cls(Redis.from_url(url), owns_redis=True, **kwargs)  # type: ignore[arg-type]

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    async def acquire(self, *budgets: Budget) -> float:
        args: list[float] = []
        for budget in budgets:
            args += [1.0 / budget.rate, budget.burst]
        try:
            raw = await self._reserve(keys=[self._key(b.name) for b in budgets], args=args)
            wait = float(raw.decode() if isinstance(raw, bytes) else raw)
        except RedisError as exc:
            # Sending on at this process's own pace beats stopping a broadcast because Redis blinked.
            log.warning("send limiter: redis unavailable (%s); limiting in-process", exc)
            wait = self._fallback.reserve(budgets)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def hold_off(self, name: str, seconds: float) -> None:
        await self._fallback.hold_off(name, seconds)
        try:
            await self._hold_off(keys=[self._key(name)], args=[seconds])
        except RedisError as exc:
            log.warning("send limiter: redis unavailable (%s); hold-off kept in-process", exc)

    async def close(self) -> None:
        if self._owns_redis:
            await self._redis.aclose()


def make_send_limiter(redis_url: str | None, **redis_options: object) -> SendLimiter:
    """The Redis-backed limiter when `REDIS_URL` is set (several replicas), else the in-process one."""
    if redis_url:
        return RedisSendLimiter.from_url(redis_url, **redis_options)
    return InProcessSendLimiter()
