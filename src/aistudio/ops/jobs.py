"""Periodic background jobs (settling top-ups, broadcasts, monitoring), each in its own loop.

Every job must be safe to run on several replicas at once (idempotent, or guarded by a lease in the
database); a failing run is logged and retried at the next tick, never allowed to end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_s: float
    run: Callable[[], Awaitable[Any]]
    first_delay_s: float = 0.0


async def _loop(job: PeriodicJob, stop: asyncio.Event) -> None:
    delay = job.first_delay_s
    while not stop.is_set():
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
        delay = job.every_s
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed; retrying in %.0f s", job.name, job.every_s)


def start_jobs(jobs: list[PeriodicJob], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start one task per job; they end when `stop` is set (or are cancelled by `AppParts.close`)."""
    return [asyncio.create_task(_loop(job, stop), name=f"job:{job.name}") for job in jobs]
