"""Drive one generation forward from whatever state it is in: submit, check, download, deliver, settle.

Every step changes the row compare-and-set, so a step repeated after a crash, run by two workers at once or
triggered by a duplicate callback does nothing twice. Money moves only in the same transaction as the final
state change: capture with `completed`, release with `failed`. Each step returns the row it left behind
when the next step can run at once, or None when the generation now waits (on Kie, a retry, or nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import timedelta
from typing import Any

from aistudio.billing.errors import HoldAlreadyResolved
from aistudio.catalog.models import ModelSpec
from aistudio.generation.context import Pipeline, next_poll_delay
from aistudio.generation.delivery import Failure, ResultFile
from aistudio.generation.repo import Generation
from aistudio.generation.states import ErrorClass, State
from aistudio.kie.callbacks import build_callback_url
from aistudio.kie.errors import (
    KieAuthError,
    KieContentPolicy,
    KieError,
    KieFileTooLarge,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieInvalidInput,
    KieNotFound,
    KieSubmitUnknown,
)
from aistudio.kie.types import TaskState, TaskStatus

log = logging.getLogger(__name__)
Next = Generation | None


def classify(error: KieError) -> ErrorClass:
    """Which user message a Kie error becomes."""
    if isinstance(error, KieInvalidInput):
        return ErrorClass.INVALID_INPUT
    if isinstance(error, KieContentPolicy):
        return ErrorClass.CONTENT_POLICY
    if isinstance(error, KieInsufficientCredits | KieAuthError):
        return ErrorClass.UNAVAILABLE
    if isinstance(error, KieGenerationFailed):
        return ErrorClass.GENERATION_FAILED
    if isinstance(error, KieSubmitUnknown):
        return ErrorClass.SUBMIT_UNKNOWN
    return ErrorClass.UPSTREAM


class Driver:
    """Advances generations one state at a time."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        # Generations whose final state change also gave their lease back: no separate unlease needed.
        self.unleased: set[int] = set()

    async def load(self, generation_id: int) -> Generation | None:
        async with self.p.db.reading() as conn:
            return await self.p.repo.get(conn, generation_id)

    async def run(self, generation_id: int) -> None:
        gen = await self.load(generation_id)
        if gen is not None:
            await self.run_from(gen)

    async def run_from(self, gen: Generation) -> None:
        """Step the generation until it waits on Kie, finishes, or another worker changed it."""
        current: Next = gen
        for _ in range(12):  # a bound, not a target: one pass needs at most six steps
            if current is None:
                return
            current = await self.step(current)

    async def step(self, gen: Generation) -> Next:
        """Do the work of `gen`'s state."""
        model = self.p.catalog.get(gen.model_id)
        match gen.state:
            case State.HELD:
                return await self._submit(gen, model)
            case State.SUBMITTED:
                return await self.apply_status(gen, model, await self.check_status(gen, model))
            case State.SUCCEEDED:
                return await self._download(gen)
            case State.DOWNLOADED:
                return await self._deliver(gen)
            case State.SENDING:
                return await self._settle_unconfirmed(gen)
            case State.FAILED:
                await self._notify_failure(gen)
        return None

    async def _move(self, gen: Generation, new: State, **changes: Any) -> Next:
        """A compare-and-set that only reschedules (same state): one statement, nothing else to record."""
        async with self.p.db.single() as tx:
            return await self.p.repo.move(tx, gen.id, gen.state, new, self.p.now(), **changes)

    async def _change(self, gen: Generation, new: State, event: dict[str, Any] | None = None, **changes: Any) -> Next:
        """A state change with its event row, atomically (every change is in the event log): one statement on
        PostgreSQL, where a transaction cost four round trips; a transaction on SQLite."""
        now = self.p.now()
        if self.p.db.dialect == "postgresql":
            async with self.p.db.single() as tx:
                return await self.p.repo.move_logged(tx, gen, new, now, event or {}, postgres=True, **changes)
        async with self.p.db.transaction() as tx:
            return await self.p.repo.move_logged(tx, gen, new, now, event or {}, postgres=False, **changes)

    # ---- held: submit ------------------------------------------------------------------------------

    async def _submit(self, gen: Generation, model: ModelSpec) -> Next:
        self.p.checkpoint("before_submit")
        now = self.p.now()
        if gen.submit_attempts > 0 and gen.kie_task_id is None:
            return await self._outcome_unknown(gen)
        if gen.deadline_at and now > gen.deadline_at:
            return await self.fail(gen, ErrorClass.UPSTREAM, "could not submit before the deadline")
        # Claim the right to send createTask: the attempt is counted before the request leaves, so a crash
        # after sending can never lead to a second createTask for the same generation.
        async with self.p.db.single() as tx:
            if not await self.p.repo.claim_submit(tx, gen.id, gen.submit_attempts, now):
                return None
        gen = dataclasses.replace(gen, submit_attempts=gen.submit_attempts + 1)
        callback = None
        if self.p.uses_callbacks:
            callback = build_callback_url(
                self.p.settings.callback_base_url or "", self.p.settings.callback_secret, gen.id
            )
        try:
            if await self.p.limiter.position(gen.user_id) > 0:
                await self.p.delivery.progress(gen, "queued")
            await self.p.limiter.acquire(gen.user_id)
            async with self.p.submit_gate:
                task_id = await self.p.gateway.submit(model, gen.inputs, callback)
            self.p.checkpoint("after_create")
        except KieSubmitUnknown:
            log.warning("generation %s: createTask outcome unknown", gen.request_id)
            return await self._outcome_unknown(gen)
        except KieError as error:
            return await self._submit_refused(gen, error)
        now = self.p.now()
        submitted = await self._change(
            gen, State.SUBMITTED, {"detail": {"task_id": task_id}},
            kie_task_id=task_id, submitted_at=now,
            next_check_at=now + timedelta(seconds=self._first_check_delay(model)),
        )  # fmt: skip
        if submitted:
            await self.p.delivery.progress(submitted, "generating")
        return None  # now it waits on Kie

    def _first_check_delay(self, model: ModelSpec) -> float:
        s = self.p.settings
        if self.p.uses_callbacks:
            return max(s.callback_safety_poll_s, s.callback_safety_factor * model.typical_seconds)
        return next_poll_delay(0, model.typical_seconds, minimum=s.poll_min_s, maximum=s.poll_max_s)

    async def _submit_refused(self, gen: Generation, error: KieError) -> Next:
        """Kie answered createTask with an error, so no task exists: retry if it may pass, else fail."""
        if isinstance(error, KieInsufficientCredits | KieAuthError):
            await self.p.alerts.kie_out_of_credits(f"{type(error).__name__} {error.code}: {error.message}")
        if error.retryable and gen.poll_count + 1 < self.p.settings.submit_attempts:
            delay = min(30.0, 2.0 * 2**gen.poll_count)
            # Back to "never sent" (a definite refusal created nothing), to be retried after `delay`.
            await self._change(
                gen, State.HELD,
                {"error_class": classify(error).value, "kie_code": error.code, "kie_message": error.message,
                 "detail": {"retry_in_s": delay}},
                submit_attempts=0, poll_count=gen.poll_count + 1,
                next_check_at=self.p.now() + timedelta(seconds=delay), kie_code=error.code,
            )  # fmt: skip
            return None
        return await self.fail(gen, classify(error), error.message, kie_code=error.code)

    async def _outcome_unknown(self, gen: Generation) -> Next:
        """createTask may or may not have created a task. Wait for its callback, or refund."""
        now = self.p.now()
        if self.p.uses_callbacks and gen.deadline_at and now < gen.deadline_at:
            # The callback URL names this generation: if Kie did create the task, its callback adopts it.
            await self._move(gen, State.HELD, next_check_at=gen.deadline_at)
            return None
        log.warning("generation %s: refunding, createTask outcome unknown (operator may lose credits)", gen.request_id)
        return await self.fail(gen, ErrorClass.SUBMIT_UNKNOWN, "the task's creation could not be confirmed")

    # ---- submitted: check --------------------------------------------------------------------------

    async def check_status(self, gen: Generation, model: ModelSpec) -> TaskStatus | None:
        assert gen.kie_task_id is not None
        try:
            return await self.p.gateway.status(model, gen.kie_task_id)
        except KieNotFound:
            return None
        except KieError as error:
            log.info("generation %s: status check failed: %s", gen.request_id, error)
            return None

    async def apply_status(self, gen: Generation, model: ModelSpec, status: TaskStatus | None) -> Next:
        """Act on a confirmed task status (from a poll, or a callback confirmed by a poll)."""
        if gen.state not in (State.SUBMITTED, State.FAILED):
            return None  # already past this point (a duplicate callback, a second worker)
        if gen.state is State.FAILED and (status is None or status.state is not TaskState.SUCCESS):
            return None  # only a late success changes a failed generation: it is delivered, free
        now = self.p.now()
        if status is not None and status.state is TaskState.SUCCESS:
            if not status.result_urls:
                return await self.fail(gen, ErrorClass.GENERATION_FAILED, "the model returned no result")
            detail = {"credits_consumed": str(status.credits_consumed), "late": gen.state is State.FAILED}
            succeeded = await self._change(
                gen, State.SUCCEEDED, {"detail": detail},
                result_urls=status.result_urls, completed_at=now, next_check_at=now, poll_count=gen.poll_count + 1,
            )  # fmt: skip
            self.p.checkpoint("after_success")
            return succeeded
        if status is not None and status.state is TaskState.FAILED:
            error = status.error()
            assert error is not None
            return await self.fail(gen, classify(error), error.message, kie_code=error.code)
        if gen.state is not State.SUBMITTED:
            return None
        if gen.deadline_at and now > gen.deadline_at:
            return await self.fail(gen, ErrorClass.TIMED_OUT, "no result within the time limit")
        s = self.p.settings
        elapsed = (now - (gen.submitted_at or gen.created_at)).total_seconds()
        delay = (
            s.poll_max_s
            if self.p.uses_callbacks
            else next_poll_delay(elapsed, model.typical_seconds, minimum=s.poll_min_s, maximum=s.poll_max_s)
        )
        await self._move(
            gen, State.SUBMITTED, poll_count=gen.poll_count + 1, next_check_at=now + timedelta(seconds=delay)
        )
        return None

    # ---- succeeded: download -----------------------------------------------------------------------

    async def _fetch(self, gen: Generation) -> list[ResultFile]:
        files = self.p.store.existing(gen.id, gen.result_urls)
        if files is not None:
            return files
        files = []
        for index, url in enumerate(gen.result_urls):
            target = self.p.store.target(gen.id, index, url)
            target.parent.mkdir(parents=True, exist_ok=True)
            await self.p.gateway.client.download(url, max_bytes=self.p.settings.max_download_bytes, to_path=target)
            files.append(self.p.store.describe(target, url))
        return files

    async def _download(self, gen: Generation) -> Next:
        try:
            await self._fetch(gen)
        except KieFileTooLarge as error:
            return await self.fail(gen, ErrorClass.DELIVERY_FAILED, error.message)
        except KieError as error:
            if error.retryable:
                await self._move(gen, gen.state, next_check_at=self.p.now() + timedelta(seconds=10))
                return None
            return await self.fail(gen, ErrorClass.DELIVERY_FAILED, error.message)
        downloaded = await self._change(gen, State.DOWNLOADED, next_check_at=self.p.now())
        self.p.checkpoint("after_download")
        return downloaded

    # ---- downloaded: deliver, then settle ----------------------------------------------------------

    async def _deliver(self, gen: Generation) -> Next:
        try:
            files = await self._fetch(gen)  # on another replica, or after a restart that lost the disk
        except KieError as error:
            return await self.fail(gen, ErrorClass.DELIVERY_FAILED, error.message)
        # Only the worker that wins this change sends: a result is never sent twice.
        sending = await self._change(gen, State.SENDING)
        if sending is None:
            return None
        try:
            sent = await self.p.delivery.deliver(sending, files)
        except Exception as exc:  # the delivery port is the outside world: any failure means "not sent"
            log.warning("generation %s: delivery failed: %s", gen.request_id, exc)
            attempts = gen.poll_count + 1
            if attempts < self.p.settings.delivery_attempts:
                await self._change(
                    sending, State.DOWNLOADED,
                    {"error_class": ErrorClass.DELIVERY_FAILED.value, "kie_message": str(exc)[:500],
                     "detail": {"delivery_attempt": attempts}},
                    poll_count=attempts, next_check_at=self.p.now() + timedelta(seconds=5 * attempts),
                )  # fmt: skip
                return None
            return await self.fail(sending, ErrorClass.DELIVERY_FAILED, str(exc))
        self.p.checkpoint("after_delivery")
        await self._complete(sending, sent, confirmed=True)
        self.p.store.discard(gen.id)
        return None

    async def _settle_unconfirmed(self, gen: Generation) -> Next:
        """A restart found a delivery started but not recorded. Never send twice: settle; it can be re-sent."""
        log.warning("generation %s: delivery unconfirmed after a restart; settling, result kept", gen.request_id)
        await self._complete(gen, [], confirmed=False)
        await self.p.delivery.unconfirmed(gen)
        return None

    async def _complete(self, gen: Generation, sent: list[dict[str, str]], *, confirmed: bool) -> None:
        now = self.p.now()
        async with self.p.db.transaction() as tx:
            charged = 0
            if gen.is_free:
                await self.p.free_tier.settle(tx, gen.free_key, succeeded=True)
            elif gen.hold_key:
                try:
                    result = await self.p.ledger.capture(f"gen:{gen.request_id}:capture", gen.hold_key, tx=tx)
                    charged = result.amount
                except HoldAlreadyResolved:
                    charged = 0  # refunded earlier (a late success after a timeout): delivered free
            moved = await self.p.repo.move(
                tx, gen.id, State.SENDING, State.COMPLETED, now,
                result_files=sent, charged_kopecks=charged, next_check_at=None, lease_owner=None, lease_until=None,
            )  # fmt: skip
            if moved is None:
                raise _Lost()
            await self.p.repo.record_event(tx, gen, State.COMPLETED, now, detail={"confirmed": confirmed})
        self.unleased.add(gen.id)

    # ---- failure -----------------------------------------------------------------------------------

    async def fail(self, gen: Generation, error_class: ErrorClass, message: str | None, **fields: Any) -> Next:
        """Release the money and mark the generation failed, in one transaction; then tell the user."""
        now = self.p.now()
        async with self.p.db.transaction() as tx:
            if gen.is_free:
                await self.p.free_tier.settle(tx, gen.free_key, succeeded=False)
            elif gen.hold_key:
                # Already released (an expired hold) is fine: the user is still told.
                with contextlib.suppress(HoldAlreadyResolved):
                    await self.p.ledger.release(
                        f"gen:{gen.request_id}:release", gen.hold_key, reason=error_class, tx=tx
                    )
            failed = await self.p.repo.move(
                tx, gen.id, gen.state, State.FAILED, now,
                error_class=error_class.value, error_message=(message or "")[:2000],
                kie_code=fields.get("kie_code"), next_check_at=now,
            )  # fmt: skip
            if failed is None:
                raise _Lost()
            await self.p.repo.record_event(
                tx, gen, State.FAILED, now,
                error_class=error_class.value, kie_code=fields.get("kie_code"), kie_message=message,
            )  # fmt: skip
        await self._notify_failure(failed)
        return None

    async def _notify_failure(self, gen: Generation) -> None:
        """Tell the user once; `next_check_at` set means "not told yet" (it survives a crash)."""
        if gen.next_check_at is None:
            return
        async with self.p.db.single() as tx:
            if not await self.p.repo.mark_notified(tx, gen.id, self.p.now()):
                return
        refunded = 0 if gen.is_free else gen.price_kopecks
        await self.p.delivery.fail(gen, Failure(gen.error_class or ErrorClass.UPSTREAM, gen.error_message, refunded))


class _Lost(Exception):
    """Another worker changed the row first; this worker's transaction is rolled back and it stops."""


async def run_guarded(driver: Driver, gen: Generation) -> None:
    """Run the driver from `gen`; losing a race to another worker is normal and ends quietly."""
    try:
        await driver.run_from(gen)
    except _Lost:
        return
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("generation %s: unexpected error while driving", gen.request_id)
