"""Crash at each point of ARCHITECTURE §5, restart, and check: delivered once and charged once, or not
delivered and not charged. On SQLite and PostgreSQL, with callbacks and with polling."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from aistudio.generation.delivery import RecordingDelivery
from aistudio.generation.states import ErrorClass, State
from tests.generation.harness import PAID_MODEL, PAID_PRICE, Harness, SimulatedCrash

CREATE = "POST /api/v1/jobs/createTask"


async def crash_then_restart(h: Harness, point: str) -> tuple[int, int, RecordingDelivery]:
    """Launch with a crash at `point`, wait for the crash, then start a new process's worker."""
    fired = asyncio.Event()
    crashed_stop = asyncio.Event()

    def crash(name: str) -> None:
        if name == point and not fired.is_set():
            fired.set()
            crashed_stop.set()  # the whole process dies, its scheduler too
            raise SimulatedCrash(point)

    # Slow enough that the task's callback arrives after the restart, not at the crashed process.
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 40})
    delivery = RecordingDelivery()
    crashed = h.build(checkpoint=crash, delivery=delivery)
    user = await h.user(1, balance=1_000)
    crashed_loop = asyncio.create_task(crashed.run(crashed_stop))
    gen = await crashed.launch(user, await crashed.offer(PAID_MODEL, {"prompt": "fox"}))
    await asyncio.wait_for(fired.wait(), timeout=10)
    await crashed_loop
    await asyncio.gather(*crashed.worker._tasks, return_exceptions=True)  # the process is gone

    # The dead process's lease on the generation runs out before the new process can take it.
    h.clock_offset = timedelta(seconds=h.settings.lease_seconds + 5)
    restarted = h.build(delivery=delivery)
    h.start_worker(restarted)
    return user, gen.id, delivery


POINTS = ["before_submit", "after_create", "after_success", "after_download", "after_delivery"]


@pytest.mark.parametrize("point", POINTS)
async def test_crash_with_callbacks_ends_delivered_once_and_charged_once(with_callbacks: Harness, point: str) -> None:
    h = with_callbacks

    user, gid, delivery = await crash_then_restart(h, point)
    gen = await h.wait_state(gid, State.COMPLETED, State.FAILED, within=20)

    assert gen.state is State.COMPLETED, gen.error_message
    assert gen.charged_kopecks == PAID_PRICE and await h.available(user) == 1_000 - PAID_PRICE
    assert [g for g, _ in delivery.delivered] == [gid]
    assert (await h.stats())[CREATE] == 1
    # After a crash between sending and recording, the user also gets the "it is ready" notice.
    assert delivery.unconfirmed_ids == ([gid] if point == "after_delivery" else [])
    await h.assert_books_balanced()


@pytest.mark.parametrize("point", POINTS)
async def test_crash_while_polling_ends_delivered_once_or_refunded(polling: Harness, point: str) -> None:
    h = polling

    user, gid, delivery = await crash_then_restart(h, point)
    gen = await h.wait_state(gid, State.COMPLETED, State.FAILED, within=20)

    assert (await h.stats())[CREATE] == 1  # never a second createTask for one generation
    if point == "after_create":
        # The task id was never stored and no callback can name it: refund (the operator may lose credits).
        assert gen.state is State.FAILED and gen.error_class == ErrorClass.SUBMIT_UNKNOWN
        assert await h.available(user) == 1_000 and delivery.delivered == []
    else:
        assert gen.state is State.COMPLETED and gen.charged_kopecks == PAID_PRICE
        assert await h.available(user) == 1_000 - PAID_PRICE
        assert [g for g, _ in delivery.delivered] == [gid]
    await h.assert_books_balanced()
