"""The dispatcher: storage, middlewares and the routers, in the one place that decides their order."""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from aistudio.ops.middleware import install_ops_middlewares
from aistudio.telegram import errors
from aistudio.telegram.handlers import (
    admin,
    admin_broadcast,
    admin_web,
    balance,
    catalog,
    fallback,
    help,
    history,
    manual_topup,
    payments,
    promo,
    referrals,
    results,
    start,
    wizard,
)
from aistudio.telegram.middlewares import RequestIdMiddleware, ThrottlingMiddleware, UserMiddleware
from aistudio.telegram.services import BotServices

# Feature routers first, the catch-all fallback last. Each module builds a fresh router on request.
# Admin routers (IsAdmin-filtered) come first; payments before the wizard, so a payment message is never
# taken for a wizard answer.
FEATURES = [
    admin, admin_broadcast, admin_web,
    payments, manual_topup, promo, referrals,
    start, catalog, wizard, results, history, balance, help,
]  # fmt: skip


def create_storage(redis_url: str | None) -> BaseStorage:
    """FSM state in memory, or in Redis when several replicas share the users."""
    if redis_url:
        from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisStorage

        return RedisStorage.from_url(redis_url, key_builder=DefaultKeyBuilder(with_destiny=True))
    return MemoryStorage()


def create_isolation(storage: BaseStorage) -> BaseEventIsolation | None:
    """With Redis, one user's updates are handled one at a time across all replicas (a lock in the same Redis);
    in memory, aiogram's default applies (one process, no isolation needed beyond the FSM)."""
    make = getattr(storage, "create_isolation", None)  # RedisStorage has it; MemoryStorage does not
    return make() if make is not None else None


def create_dispatcher(services: BotServices, *, throttle_rate: float = 3.0, throttle_burst: int = 8) -> Dispatcher:
    storage = create_storage(services.settings.redis_url)
    dp = Dispatcher(storage=storage, events_isolation=create_isolation(storage), services=services)
    dp.update.outer_middleware(RequestIdMiddleware())
    install_ops_middlewares(dp)  # log context, update metrics, polling de-duplication (aistudio.ops)
    dp.update.outer_middleware(ThrottlingMiddleware(services, rate=throttle_rate, burst=throttle_burst))
    dp.update.outer_middleware(UserMiddleware(services))
    dp.include_routers(errors.build_router(), *(m.build_router() for m in FEATURES), fallback.build_router())
    return dp
