"""Launch → result or refund, through the real Kie emulator over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from aistudio.generation.states import State
from tests.generation.harness import PAID_MODEL, PAID_PRICE, Harness


async def test_paid_generation_with_callbacks_is_delivered_and_charged_once(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)

    launched = await h.launch(user)
    held = await h.available(user)
    done = await h.wait_state(launched.id, State.COMPLETED)

    assert held == 1_000 - PAID_PRICE
    assert done.charged_kopecks == PAID_PRICE and await h.available(user) == 1_000 - PAID_PRICE
    assert [gid for gid, _ in h.delivery.delivered] == [launched.id]
    files = h.delivery.delivered[0][1]
    assert files[0].mime_type.startswith("image/") and files[0].size > 0
    assert done.result_files == [{"file_id": f"recorded-{launched.id}-0"}]
    stats = await h.stats()
    assert stats.get("POST /api/v1/jobs/createTask") == 1 and stats.get("GET /api/v1/jobs/recordInfo") == 1
    await h.assert_books_balanced()


async def test_paid_generation_by_polling_is_delivered_and_charged_once(polling: Harness) -> None:
    h = polling
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)

    launched = await h.launch(user)
    done = await h.wait_state(launched.id, State.COMPLETED)

    assert done.charged_kopecks == PAID_PRICE and await h.available(user) == 1_000 - PAID_PRICE
    assert len(h.delivery.delivered) == 1 and h.delivery.failed == []
    await h.assert_books_balanced()


def test_poll_schedule_settles_a_sixty_second_task_in_six_checks() -> None:
    from aistudio.generation.context import next_poll_delay

    checks, elapsed = [], 0.0
    while elapsed < 61:
        elapsed += next_poll_delay(elapsed, typical_s=20)
        checks.append(round(elapsed, 1))

    assert checks == [10.0, 14.5, 21.0, 30.5, 44.2, 64.1]
    assert next_poll_delay(1_000, 20) == 30 and next_poll_delay(1, 20) == 3


async def test_launch_driver_and_scheduler_never_work_one_row_at_once(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()  # the scheduler races the driver each launch starts
    users = [await h.user(uid, balance=1_000) for uid in range(1, 21)]

    gens = [await h.launch(u) for u in users]
    for gen in gens:
        await h.wait_state(gen.id, State.COMPLETED)

    stats = await h.stats()
    assert stats["POST /api/v1/jobs/createTask"] == 20 and stats["GET /api/v1/jobs/recordInfo"] == 20
    assert sorted(g for g, _ in h.delivery.delivered) == sorted(g.id for g in gens)


async def test_a_launch_s_driver_leaves_a_row_the_resumer_already_submitted(with_callbacks: Harness) -> None:
    # The launch's own driver can start late (under a burst); by then the row is past `held` and waits on
    # Kie. It must not spend a status check on it: that is the callback's (or the safety poll's) job.
    h = with_callbacks
    h.build()
    user = await h.user(1, balance=1_000)
    offer = await h.service.offer(PAID_MODEL, {"prompt": "x"})
    from aistudio.generation.launch import launch

    gen = await launch(h.service.pipeline, user_id=user, offer=offer)  # no driver started yet
    h.start_worker()  # the resumer finds the row due and submits it
    submitted = await h.wait_state(gen.id, State.SUBMITTED, State.COMPLETED)
    h.service.worker.drive_soon(gen.id)  # the launch's late driver
    await h.service.drain()

    assert submitted.kie_task_id is not None
    done = await h.wait_state(gen.id, State.COMPLETED)
    stats = await h.stats()
    assert stats["POST /api/v1/jobs/createTask"] == 1 and stats["GET /api/v1/jobs/recordInfo"] == 1
    assert done.poll_count == 1 and len(h.delivery.delivered) == 1


async def test_every_state_change_is_in_the_event_log(with_callbacks: Harness) -> None:
    import sqlalchemy as sa

    from aistudio.db.tables import generation_events

    h = with_callbacks
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)
    await h.faults(rate_limit_next=1)

    gen = await h.wait_state((await h.launch(user)).id, State.COMPLETED)

    async with h.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(generation_events.c.state, generation_events.c.kie_code, generation_events.c.request_id)
                .where(generation_events.c.generation_id == gen.id)
                .order_by(generation_events.c.id)
            )
        ).all()
    assert [r.state for r in rows] == ["held", "held", "submitted", "succeeded", "downloaded", "sending", "completed"]
    assert rows[1].kie_code == 429 and {r.request_id for r in rows} == {gen.request_id}
