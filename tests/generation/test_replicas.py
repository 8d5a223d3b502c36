"""Two processes' resumers on one PostgreSQL database never deliver a generation twice."""

from __future__ import annotations

import pytest

from aistudio.generation.delivery import RecordingDelivery
from aistudio.generation.launch import launch
from aistudio.generation.states import State
from tests.generation.harness import PAID_MODEL, PAID_PRICE, Harness, new_engine


@pytest.mark.postgres
async def test_two_resumers_share_the_work_and_deliver_each_generation_once(pg_polling: Harness) -> None:
    h = pg_polling
    delivery_a, delivery_b = RecordingDelivery(), RecordingDelivery()
    # Small claim batches, so that neither process takes the whole backlog in one go and they really compete.
    a = h.build(delivery=delivery_a, worker_batch=3)
    engine_b = new_engine(h.database_url)  # a second process has its own connection pool
    b = h.build(delivery=delivery_b, engine=engine_b, worker_batch=3)
    users = [await h.user(uid, balance=10_000) for uid in range(1, 16)]
    offer = await a.offer(PAID_MODEL, {"prompt": "fox"})
    # Written without starting them, as if both processes restarted with this backlog.
    gens = [await launch(a.pipeline, user_id=u, offer=offer) for u in users for _ in range(2)]

    h.start_worker(a)
    h.start_worker(b)
    done = [await h.wait_state(g.id, State.COMPLETED, within=30) for g in gens]
    await engine_b.dispose()

    delivered = [gid for gid, _ in delivery_a.delivered] + [gid for gid, _ in delivery_b.delivered]
    assert sorted(delivered) == sorted(g.id for g in gens)  # each exactly once
    # ... and both processes really competed for the rows (each submitted or delivered some of them)
    assert all(d.delivered or d.progressed for d in (delivery_a, delivery_b))
    assert all(g.charged_kopecks == PAID_PRICE for g in done)
    await h.assert_books_balanced()
