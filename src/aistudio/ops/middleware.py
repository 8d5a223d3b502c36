"""The dispatcher's operations middlewares: log context, update metrics, and (in polling mode) handling each
update once.

`install_ops_middlewares(dp)` is called by `create_dispatcher` right after the request-id middleware, so
everything later in the chain — throttling, user registration, the handlers, and the global error handler
around them — logs with the `RQ-` id, the update id and the user id. Collaborators come from the dispatcher's
workflow data, set by the composition root: `ops_metrics` (a `Metrics`) and, for long polling only,
`ops_update_gate` (a `ProcessedUpdates`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User

from aistudio.ops.logs import set_update_context
from aistudio.ops.updates import Verdict

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

PROBE_KEY = "ops_probe"
METRICS_KEY = "ops_metrics"
GATE_KEY = "ops_update_gate"


class _Probe:
    """Filled in by the inner middleware: which handler took the update."""

    __slots__ = ("handler",)

    def __init__(self) -> None:
        self.handler: str | None = None


def handler_name(callback: Any) -> str:
    module = getattr(callback, "__module__", "") or ""
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    return f"{module.rsplit('.', 1)[-1]}.{name}" if module else name


class UpdateOpsMiddleware(BaseMiddleware):
    """Outer, on `dp.update`: sets the log context, skips already-handled updates, counts and times."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update = event if isinstance(event, Update) else None
        user: User | None = data.get("event_from_user")
        update_id = update.update_id if update else None
        set_update_context(request_id=data.get("request_id"), update_id=update_id, user_id=user.id if user else None)
        metrics = data.get(METRICS_KEY)
        gate = data.get(GATE_KEY)
        if gate is not None and update_id is not None:
            verdict = await gate.begin(update_id)
            if verdict is not Verdict.NEW:
                log.info("update %s delivered again (%s); not handled twice", update_id, verdict.value)
                if metrics is not None:
                    metrics.duplicate_updates.labels("polling").inc()
                return None
        probe = data[PROBE_KEY] = _Probe()
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "ok"
            return result
        finally:
            if gate is not None and update_id is not None:
                try:
                    await gate.finish(update_id, ok=outcome != "error")
                except Exception as exc:  # the record stays "received"; a redelivery will not be lost
                    log.warning("update %s: could not mark it done: %r", update_id, exc)
            if metrics is not None:
                kind = _update_type(update)
                name = probe.handler or "none"
                metrics.updates.labels(kind, name, outcome).inc()
                metrics.update_seconds.labels(kind, name).observe(time.perf_counter() - started)


class HandlerProbeMiddleware(BaseMiddleware):
    """Inner, on every event type: records the name of the handler that matched."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        probe = data.get(PROBE_KEY)
        matched = data.get("handler")
        if probe is not None and matched is not None:
            probe.handler = handler_name(matched.callback)
        return await handler(event, data)


def _update_type(update: Update | None) -> str:
    if update is None:
        return "unknown"
    try:
        return update.event_type
    except Exception:
        return "unknown"


def install_ops_middlewares(dp: Dispatcher) -> None:
    """Register the operations middlewares (call right after the request-id middleware)."""
    dp.update.outer_middleware(UpdateOpsMiddleware())
    probe = HandlerProbeMiddleware()
    for name, observer in dp.observers.items():
        if name not in ("update", "error"):
            observer.middleware(probe)
