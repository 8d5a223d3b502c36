"""The broadcast sender: one replica at a time drives a running broadcast to its end, at its rate.

`BroadcastSender.run_due()` is a periodic job on every replica: it claims each running broadcast that no
live sender holds (lease in `broadcasts.lease_owner` / `lease_until`) and drives it. A dead replica's
lease expires and another one carries on; rows it left `sending` are counted failed, never re-sent.

Sending one recipient: wait for a token (the Telegram-wide budget and the broadcast's own rate) → mark
the row `sending` → call Telegram → mark it `sent` / `blocked` / `failed`. A `retry_after` answer holds
the shared budget back and retries the same user (not a failure). Between batches (about a second of
sending) the sender re-reads the status, so pause / cancel pressed on any replica stop it quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aistudio.admin.broadcasts import Broadcast, BroadcastStore, Delivery, Status
from aistudio.telegram.send_limiter import TELEGRAM_GLOBAL, TELEGRAM_GLOBAL_RATE, Budget, SendLimiter

log = logging.getLogger(__name__)

MAX_RETRIES = 8  # retry_after answers for one user before it counts as failed


@dataclass(frozen=True)
class Outcome:
    """What Telegram answered to one send."""

    status: Delivery | None  # SENT, BLOCKED, FAILED; None = retry after `retry_after` seconds
    message_id: int | None = None
    error: str | None = None
    retry_after: float = 0.0


class Transport(Protocol):
    async def send(self, user_id: int, broadcast: Broadcast) -> Outcome: ...


class ProgressView(Protocol):
    async def show(self, broadcast: Broadcast) -> None:
        """Show the admin the broadcast's counters and controls (edit the progress message)."""
        ...


class BroadcastSender:
    def __init__(
        self,
        store: BroadcastStore,
        transport: Transport,
        limiter: SendLimiter,
        progress: ProgressView | None = None,
        *,
        owner: str | None = None,
        lease_s: float = 30.0,
        progress_every_s: float = 2.0,
        concurrency: int = 4,
        global_rate: float = TELEGRAM_GLOBAL_RATE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.transport = transport
        self.limiter = limiter
        self.progress = progress
        self.owner = owner or f"bc-{uuid.uuid4().hex[:12]}"
        self.lease_s = lease_s
        self.progress_every_s = progress_every_s
        self.concurrency = concurrency
        self.global_budget = Budget(TELEGRAM_GLOBAL, global_rate, 1.0)
        self._sleep = sleep

    async def run_due(self) -> int:
        """The periodic job: drive every running broadcast nobody holds; returns how many were driven."""
        ids = await self.store.due()
        if ids:
            await asyncio.gather(*(self.drive(i) for i in ids))
        return len(ids)

    async def drive(self, broadcast_id: int) -> Status | None:
        """Send a running broadcast until it is done, paused, cancelled or the lease is lost."""
        if not await self.store.claim(broadcast_id, self.owner, self.lease_s):
            return None
        run = _Run(self, broadcast_id)
        try:
            return await run.go()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release(broadcast_id, self.owner))


class _Run:
    """One claim of one broadcast by one sender."""

    def __init__(self, sender: BroadcastSender, broadcast_id: int) -> None:
        self.s = sender
        self.store = sender.store
        self.id = broadcast_id
        self.lost = False  # the lease went to someone else: stop taking rows
        self.halted = False  # the status is no longer running
        self.shown: tuple[object, ...] | None = None

    async def go(self) -> Status | None:
        broadcast = await self.store.get(self.id)
        if broadcast is None:
            return None
        if broadcast.started_at is None:  # a start that crashed during its snapshot
            await self.store.snapshot(broadcast)
        interrupted = await self.store.interrupt_sending(self.id)
        if interrupted:
            log.warning("broadcast %s: %d deliveries interrupted by a crash, counted failed", self.id, interrupted)
        budget = Budget(f"broadcast:{self.id}", broadcast.rate_per_s, 1.0)
        ticker = asyncio.create_task(self._tick())
        status: Status | None = Status.RUNNING
        try:
            while status is Status.RUNNING and not self.lost:
                status = await self._pass(broadcast, budget)
                if status is Status.RUNNING:
                    if await self.store.finish(self.id):
                        status = Status.DONE
                    else:  # rows still `sending` elsewhere (a stale sender finishing): look again shortly
                        await self.s._sleep(self.s.progress_every_s)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self._show(force=True)
        return status

    async def _pass(self, broadcast: Broadcast, budget: Budget) -> Status | None:
        """Feed the pending rows to the workers in user id order, a batch (about a second of sending) at a
        time, checking the status before each batch; returns the last status read."""
        batch_size = max(self.s.concurrency, math.ceil(broadcast.rate_per_s))
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=batch_size)
        workers = [asyncio.create_task(self._work(broadcast, budget, queue)) for _ in range(self.s.concurrency)]
        status: Status | None = Status.RUNNING
        after = -1
        try:
            while True:
                status = await self.store.renew(self.id, self.s.owner, self.s.lease_s)
                if status is not Status.RUNNING or self.lost:
                    self.halted = True  # paused or cancelled: rows already queued stay pending
                    break
                batch = await self.store.pending(self.id, batch_size, after=after)
                if not batch:
                    break
                for user_id in batch:
                    await queue.put(user_id)  # waits while the workers are a batch behind: no idle gaps
                after = batch[-1]
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return status

    async def _work(self, broadcast: Broadcast, budget: Budget, queue: asyncio.Queue[int | None]) -> None:
        while (user_id := await queue.get()) is not None:
            if not (self.lost or self.halted):
                await self._send_one(broadcast, budget, user_id)

    async def _send_one(self, broadcast: Broadcast, budget: Budget, user_id: int) -> None:
        limiter = self.s.limiter
        await limiter.acquire(self.s.global_budget, budget)
        if not await self.store.mark_sending(self.id, user_id):
            return
        attempts = 1
        while True:
            try:
                outcome = await self.s.transport.send(user_id, broadcast)
            except Exception as exc:  # the transport maps Telegram's answers; anything else is a failure
                log.exception("broadcast %s: sending to %s failed", self.id, user_id)
                outcome = Outcome(Delivery.FAILED, error=f"{type(exc).__name__}: {exc}")
            if outcome.status is not None:
                break
            if attempts > MAX_RETRIES:
                outcome = Outcome(Delivery.FAILED, error=f"flood control: retry_after {outcome.retry_after:g} s")
                break
            # Telegram did not take the message: waiting and sending it again cannot make a duplicate.
            attempts += 1
            await limiter.hold_off(self.s.global_budget.name, outcome.retry_after)
            await self.s._sleep(outcome.retry_after)
            await limiter.acquire(self.s.global_budget, budget)
        await self.store.mark_done(
            self.id, user_id, outcome.status, attempts=attempts, error=outcome.error, message_id=outcome.message_id
        )

    async def _tick(self) -> None:
        """Keep the lease and the admin's progress message fresh while sending."""
        while True:
            await self.s._sleep(self.s.progress_every_s)
            try:
                if await self.store.renew(self.id, self.s.owner, self.s.lease_s) is None:
                    log.warning("broadcast %s: lease lost to another sender; stopping", self.id)
                    self.lost = True
                    return
                await self._show()
            except asyncio.CancelledError:
                raise
            except Exception:  # a progress edit must never stop the sending
                log.exception("broadcast %s: progress update failed", self.id)

    async def _show(self, *, force: bool = False) -> None:
        current = await self.store.refresh_counters(self.id)
        if current is None or self.s.progress is None:
            return
        key = (current.status, current.sent, current.failed, current.blocked, current.total)
        if key == self.shown and not force:
            return
        self.shown = key
        try:
            await self.s.progress.show(current)
        except Exception:
            log.exception("broadcast %s: progress message not updated", self.id)
