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
    a = h.build(delivery=delivery_a)
    engine_b = new_engine(h.database_url)  # a second process has its own connection pool
    b = h.build(delivery=delivery_b, engine=engine_b)
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
    assert delivery_a.delivered and delivery_b.delivered  # and both processes did some of the work
    assert all(g.charged_kopecks == PAID_PRICE for g in done)
    await h.assert_books_balanced()
