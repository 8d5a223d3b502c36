"""Emulated tasks and the one scheduler that finishes them on time.

A task's intermediate states (waiting → queuing → generating) are read off the clock when asked, so only
its end needs an event. All ends sit in one heap served by one asyncio task: thousands of concurrent
tasks cost a heap entry each, not a sleeping coroutine each.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aistudio.catalog.models import Family

log = logging.getLogger(__name__)

# Share of a task's duration spent in each early state: waiting until 10 %, queuing until 25 %.
WAITING_SHARE = 0.10
QUEUING_SHARE = 0.25


@dataclass
class Task:
    """One emulated Kie task. Times ending in `_at` are event-loop seconds; `_ms` are Unix ms."""

    id: str
    family: Family
    model: str
    request: dict[str, Any]  # the create request as received (what `param` echoes back)
    inputs: dict[str, Any]  # validated inputs, defaults applied
    prompt: str
    output: str  # image | video | audio | text
    ext: str
    cost: Decimal
    callback_url: str | None
    base_url: str
    created_ms: int
    started_at: float
    done_at: float
    will_fail: bool = False
    fail_code: int = 501
    fail_message: str = ""
    lose_callback: bool = False
    duplicate_callback: bool = False
    final: str | None = None  # "success" | "fail" once over
    completed_ms: int | None = None
    result_urls: list[str] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def state(self, now: float) -> str:
        """Market spelling of the state at loop time `now`."""
        if self.final:
            return self.final
        span = max(self.done_at - self.started_at, 1e-9)
        progress = (now - self.started_at) / span
        if progress < WAITING_SHARE:
            return "waiting"
        if progress < QUEUING_SHARE:
            return "queuing"
        return "generating"

    def summary(self, now: float) -> dict[str, Any]:
        """The task as GET /sandbox/tasks shows it."""
        return {
            "taskId": self.id,
            "family": self.family.value,
            "model": self.model,
            "input": self.inputs,
            "request": self.request,
            "state": self.state(now),
            "callBackUrl": self.callback_url,
            "cost": float(self.cost),
            "resultUrls": self.result_urls,
            "failCode": self.fail_code if self.final == "fail" else None,
            "createTime": self.created_ms,
            "completeTime": self.completed_ms,
            "callbacks": self.callbacks,
        }


class Scheduler:
    """Calls `on_due(task_id)` when each task's end time comes; one heap, one worker task."""

    def __init__(self, on_due: Callable[[str], None]) -> None:
        self._on_due = on_due
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, task_id: str, at: float) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (at, next(self._seq), task_id))
        if earliest is None or at < earliest:
            self._changed.set()  # the worker sleeps until the old earliest; wake it
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    def clear(self) -> None:
        self._heap.clear()
        self._changed.set()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._changed.clear()
            now = loop.time()
            while self._heap and self._heap[0][0] <= now:
                _, _, task_id = heapq.heappop(self._heap)
                try:
                    self._on_due(task_id)  # a forced or reset task is simply ignored by the callee
                except Exception:  # one broken task must not stop every other task from ending
                    log.exception("kie sandbox: finishing task %s failed", task_id)
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=timeout)
