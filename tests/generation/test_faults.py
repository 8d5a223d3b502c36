"""Every Kie fault the emulator can inject: the user ends with the result or the money, exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from aistudio.generation.states import ErrorClass, State
from tests.generation.harness import PAID_MODEL, PAID_PRICE, Harness

CREATE = "POST /api/v1/jobs/createTask"
RECORD = "GET /api/v1/jobs/recordInfo"


async def run_one(h: Harness, **faults: object) -> tuple[int, int]:
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)
    if faults:
        await h.faults(**faults)
    gen = await h.launch(user)
    return user, gen.id


async def test_failed_task_is_refunded_and_the_user_told_why(with_callbacks: Harness) -> None:
    user, gid = await run_one(with_callbacks, fail_next=1)

    gen = await with_callbacks.wait_state(gid, State.FAILED)

    assert gen.error_class == ErrorClass.GENERATION_FAILED and gen.kie_code == 501
    assert await with_callbacks.available(user) == 1_000
    [(failed_id, failure)] = with_callbacks.delivery.failed
    assert (failed_id, failure.error_class, failure.refunded_kopecks) == (gid, "generation_failed", PAID_PRICE)
    assert with_callbacks.delivery.delivered == []
    await with_callbacks.assert_books_balanced()


async def test_content_policy_refusal_is_its_own_message(with_callbacks: Harness) -> None:
    user, gid = await run_one(
        with_callbacks, fail_next=1, fail_code=400, fail_message="Your prompt was flagged by content policy"
    )

    gen = await with_callbacks.wait_state(gid, State.FAILED)

    assert gen.error_class == ErrorClass.CONTENT_POLICY
    assert await with_callbacks.available(user) == 1_000


async def test_rate_limited_create_is_retried_until_accepted(with_callbacks: Harness) -> None:
    user, gid = await run_one(with_callbacks, rate_limit_next=2)

    gen = await with_callbacks.wait_state(gid, State.COMPLETED)

    assert gen.charged_kopecks == PAID_PRICE and await with_callbacks.available(user) == 1_000 - PAID_PRICE
    assert (await with_callbacks.stats())[CREATE] == 3
    assert len(with_callbacks.delivery.delivered) == 1


async def test_server_errors_and_maintenance_on_create_are_retried(with_callbacks: Harness) -> None:
    user, gid = await run_one(with_callbacks, server_error_next=1, maintenance_next=1)

    await with_callbacks.wait_state(gid, State.COMPLETED)

    assert (await with_callbacks.stats())[CREATE] == 3
    assert await with_callbacks.available(user) == 1_000 - PAID_PRICE
    await with_callbacks.assert_books_balanced()


async def test_operator_out_of_credits_refunds_and_alerts_admins(with_callbacks: Harness) -> None:
    user, gid = await run_one(with_callbacks, insufficient_credits_next=1)

    gen = await with_callbacks.wait_state(gid, State.FAILED)

    assert gen.error_class == ErrorClass.UNAVAILABLE and await with_callbacks.available(user) == 1_000
    assert (await with_callbacks.stats())[CREATE] == 1  # never retried into a known refusal
    assert len(with_callbacks.service.pipeline.alerts.alerts) == 1  # type: ignore[attr-defined]


async def test_broken_create_answer_is_matched_by_its_callback(with_callbacks: Harness) -> None:
    _, gid = await run_one(with_callbacks, malformed_next=1)

    gen = await with_callbacks.wait_state(gid, State.COMPLETED)

    assert gen.kie_task_id is not None and gen.charged_kopecks == PAID_PRICE
    assert (await with_callbacks.stats())[CREATE] == 1  # the unknown outcome was never re-submitted
    assert len(with_callbacks.delivery.delivered) == 1
    await with_callbacks.assert_books_balanced()


async def test_broken_create_answer_without_callbacks_is_refunded(polling: Harness) -> None:
    user, gid = await run_one(polling, malformed_next=1)

    gen = await polling.wait_state(gid, State.FAILED)

    assert gen.error_class == ErrorClass.SUBMIT_UNKNOWN and await polling.available(user) == 1_000
    assert (await polling.stats())[CREATE] == 1


async def test_lost_callback_is_caught_by_the_safety_poll(with_callbacks: Harness) -> None:
    _, gid = await run_one(with_callbacks, lose_callback_next=1)

    gen = await with_callbacks.wait_state(gid, State.COMPLETED, within=15)

    assert gen.charged_kopecks == PAID_PRICE and len(with_callbacks.delivery.delivered) == 1


async def test_duplicate_callback_changes_nothing(with_callbacks: Harness) -> None:
    user, gid = await run_one(with_callbacks, duplicate_callback_next=1)

    await with_callbacks.wait_state(gid, State.COMPLETED)
    await asyncio.sleep(0.3)  # room for the second callback to be handled

    assert len(with_callbacks.delivery.delivered) == 1
    assert await with_callbacks.available(user) == 1_000 - PAID_PRICE
    await with_callbacks.assert_books_balanced()


async def test_callback_before_the_create_answer_is_delivered_once(with_callbacks: Harness) -> None:
    _, gid = await run_one(with_callbacks, early_callback_next=1)

    gen = await with_callbacks.wait_state(gid, State.COMPLETED)
    await asyncio.sleep(0.2)

    assert gen.charged_kopecks == PAID_PRICE and len(with_callbacks.delivery.delivered) == 1


async def test_status_query_errors_are_retried_by_later_polls(polling: Harness) -> None:
    _, gid = await run_one(polling, query_error_next=3, query_malformed_next=1)

    gen = await polling.wait_state(gid, State.COMPLETED)

    assert gen.charged_kopecks == PAID_PRICE and len(polling.delivery.delivered) == 1


async def test_input_kie_refuses_is_not_charged_and_names_the_problem(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)
    offer = await h.service.offer(PAID_MODEL, {"prompt": "fox"})
    drifted = dataclasses.replace(offer, inputs={**offer.inputs, "aspect_ratio": "7:3"})  # Kie changed its enum

    gen = await h.wait_state((await h.service.launch(user, drifted)).id, State.FAILED)

    assert gen.error_class == ErrorClass.INVALID_INPUT and "aspect_ratio" in (gen.error_message or "")
    assert await h.available(user) == 1_000


async def test_timeout_refunds_and_a_late_success_is_delivered_free(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build(callback_safety_poll_s=0.1)
    h.start_worker()
    user = await h.user(1, balance=1_000)
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 100_000})
    gen = await h.launch(user)
    await h.wait_state(gen.id, State.SUBMITTED)
    h.clock_offset = timedelta(hours=2)  # past the model's time limit

    timed_out = await h.wait_state(gen.id, State.FAILED)
    refunded = await h.available(user)
    await h.http.post(f"{h.url}/sandbox/tasks/{timed_out.kie_task_id}/complete", json={"outcome": "success"})
    late = await h.wait_state(gen.id, State.COMPLETED)

    assert timed_out.error_class == ErrorClass.TIMED_OUT and refunded == 1_000
    assert late.charged_kopecks == 0 and await h.available(user) == 1_000
    assert len(h.delivery.delivered) == 1 and len(h.delivery.failed) == 1
    await h.assert_books_balanced()


async def test_mixed_faults_keep_the_books_balanced_throughout(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()
    users = [await h.user(uid, balance=5_000) for uid in range(1, 11)]
    await h.faults(fail_rate=0.3, rate_limit_rate=0.2, duplicate_callback_rate=0.3, lose_callback_rate=0.1, seed=11)
    checks: list[bool] = []
    done = asyncio.Event()

    async def audit() -> None:
        from aistudio.billing.queries import check_invariants

        while not done.is_set():
            checks.append((await check_invariants(h.engine)).ok)
            await asyncio.sleep(0.02)

    auditor = asyncio.create_task(audit())
    gens = [await h.launch(u) for u in users for _ in range(2)]
    finished = [await h.wait_state(g.id, State.COMPLETED, State.FAILED, within=20) for g in gens]
    done.set()
    await auditor

    assert checks and all(checks)
    for user in users:
        mine = [g for g in finished if g.user_id == user]
        charged = sum(g.charged_kopecks for g in mine)
        assert await h.available(user) == 5_000 - charged
        assert charged == PAID_PRICE * sum(g.state is State.COMPLETED for g in mine)
    delivered = [gid for gid, _ in h.delivery.delivered]
    assert sorted(delivered) == sorted(g.id for g in finished if g.state is State.COMPLETED)
