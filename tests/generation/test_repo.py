"""Row-level rules of the generation repository."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.ledger import Ledger
from aistudio.db.rawsql import RawDb
from aistudio.db.sql import utcnow
from aistudio.generation.repo import GenerationRepo, new_request_id
from tests.support import make_user


async def insert_generation(engine: AsyncEngine, repo: GenerationRepo) -> int:
    await make_user(engine, Ledger(engine), 1)
    now = utcnow()
    async with RawDb(engine).transaction() as tx:
        gen = await repo.insert(
            tx, request_id=new_request_id(), user_id=1, model_id="z-image", family="market", inputs={"prompt": "x"},
            is_free=True, credits=0.8, price=0, fx=95, markup=2, hold_key=None, chat_id=None, source_id=None,
            now=now, deadline=now + timedelta(minutes=10),
        )  # fmt: skip
        return gen.id


async def test_a_held_lease_cannot_be_taken_again_even_by_the_same_process(engine: AsyncEngine) -> None:
    repo = GenerationRepo()
    gid = await insert_generation(engine, repo)
    now = utcnow()
    db = RawDb(engine)

    async with db.transaction() as tx:
        first = await repo.lease(tx, gid, "worker-a", now, now + timedelta(seconds=60))
        again = await repo.lease(tx, gid, "worker-a", now, now + timedelta(seconds=60))
        other = await repo.lease(tx, gid, "worker-b", now, now + timedelta(seconds=60))
        after_expiry = await repo.lease(tx, gid, "worker-b", now + timedelta(seconds=61), now + timedelta(seconds=120))

    assert [lease is not None for lease in (first, again, other, after_expiry)] == [True, False, False, True]
    assert first is not None and first.id == gid


async def test_only_one_worker_can_claim_a_submit_attempt(engine: AsyncEngine) -> None:
    repo = GenerationRepo()
    gid = await insert_generation(engine, repo)
    db = RawDb(engine)

    async with db.transaction() as tx:
        claims = [await repo.claim_submit(tx, gid, 0, utcnow()) for _ in range(3)]

    assert claims == [True, False, False]


def test_request_ids_are_readable_and_distinct() -> None:
    ids = {new_request_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(i.startswith("RQ-") and len(i) == 11 and not set(i[3:]) & set("01OI") for i in ids)
