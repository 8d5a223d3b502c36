"""The resumer and scheduler: finds generations whose next step is due and drives them.

At start-up every unfinished generation is due (its `next_check_at` is in the past), so a restart resumes
all of them; afterwards the same loop runs polls, retries and failure notices. Rows are claimed with
`FOR UPDATE SKIP LOCKED` plus a lease, so several replicas share the work without driving one row twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aistudio.generation.callbacks import confirm_guarded
from aistudio.generation.context import Pipeline
from aistudio.generation.driver import Driver, run_guarded
from aistudio.generation.repo import Generation

log = logging.getLogger(__name__)


class GenerationWorker:
    """Claims due generations in batches and drives each in its own task (bounded)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        batch: int = 200,
        concurrency: int = 500,
        confirm_concurrency: int = 64,
        idle_s: float = 0.5,
    ) -> None:
        self.p = pipeline
        self.driver = Driver(pipeline)
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        # Finishing a generation whose result is ready never queues behind a burst of launches or polls:
        # confirmations (callbacks) have slots of their own. Few of them: under a burst of callbacks, a few
        # dozen deliveries finishing in turn beat hundreds sharing the CPU and the pool and finishing late together.
        self._confirm_slots = asyncio.Semaphore(confirm_concurrency)
        self._idle_s = idle_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due work now instead of after the idle pause."""
        self._wake.set()

    async def claim(self) -> list[Generation]:
        now = self.p.now()
        async with self.p.db.transaction() as tx:
            ids = await self.p.repo.claim_due(tx, now, self._batch)
            claimed = []
            for generation_id in ids:
                gen = await self.p.repo.lease(tx, generation_id, self.p.worker_id, now, self.p.lease_until())
                if gen is not None:
                    claimed.append(gen)
        return claimed

    def drive_soon(self, generation_id: int) -> None:
        """Drive one generation in the background (after a launch), holding its lease."""
        self._spawn(self._drive_leased(generation_id, confirm=False))

    def confirm_soon(self, generation_id: int) -> None:
        """A callback said the task ended: confirm with Kie and drive on, holding the lease."""
        self._spawn(self._drive_leased(generation_id, confirm=True))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive_leased(self, generation_id: int, *, confirm: bool) -> None:
        async with self._confirm_slots if confirm else self._slots:
            now = self.p.now()
            async with self.p.db.single() as tx:
                gen = await self.p.repo.lease(
                    tx, generation_id, self.p.worker_id, now, self.p.lease_until(), held_only=not confirm
                )
            if gen is None:  # after a launch: the resumer got to it first (submitted, or submitting now)
                if confirm:  # the holder may be mid-poll; make sure someone checks right after it
                    async with self.p.db.single() as tx:
                        await self.p.repo.due_now(tx, generation_id, now)
                return
            await self._drive(gen, confirm=confirm)

    async def _drive(self, gen: Generation, *, confirm: bool) -> None:
        """Work a leased row, then give the lease back.

        Released only when the work ended normally: a process that dies (or is cancelled) mid-way keeps its
        lease until it expires, so nobody resumes a step that may still be in flight.
        """
        try:
            if confirm:
                await confirm_guarded(self.driver, gen)
            else:
                await run_guarded(self.driver, gen)
        except BaseException:
            self.driver.unleased.discard(gen.id)
            raise
        if gen.id in self.driver.unleased:  # completed: the final state change gave the lease back
            self.driver.unleased.discard(gen.id)
            return
        async with self.p.db.single() as tx:
            await self.p.repo.unlease(tx, gen.id, self.p.worker_id)

    async def run_once(self) -> int:
        """Claim one batch and start driving it; returns how many were claimed."""
        claimed = await self.claim()
        for gen in claimed:
            self._spawn(self._drive_claimed(gen))
        return len(claimed)

    async def _drive_claimed(self, gen: Generation) -> None:
        async with self._slots:
            await self._drive(gen, confirm=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: claim due work, drive it, pause briefly when there is none."""
        while not stop.is_set():
            try:
                count = await self.run_once()
            except Exception:
                log.exception("generation worker: claiming due work failed; retrying")
                count = 0
            if count < self._batch:
                self._wake.clear()
                waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
                _, pending = await asyncio.wait(waiters, timeout=self._idle_s, return_when=asyncio.FIRST_COMPLETED)
                for waiter in pending:
                    waiter.cancel()

    async def drain(self) -> None:
        """Wait for the generations being driven now (graceful shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
