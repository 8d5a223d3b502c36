"""Each Telegram update is handled once: its `update_id` is recorded in `processed_updates` before it is
handled, and marked when it is done.

A second delivery of a recorded update (Telegram retrying a webhook, or a new polling instance receiving
the last batch its predecessor had not confirmed yet) is recognised and not handled again. An update still
being handled is "in flight"; one recorded longer ago than `stale_after` without finishing was abandoned by
a process that died, and the next delivery takes it over.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from aistudio.db.rawsql import RawDb, Sql
from aistudio.db.sql import utcnow

log = logging.getLogger(__name__)

RECORD = Sql(
    "INSERT INTO processed_updates (update_id, status, received_at) VALUES (:update_id, 'received', :now) "
    "ON CONFLICT (update_id) DO NOTHING RETURNING update_id"
)
TAKE_OVER = Sql(
    "UPDATE processed_updates SET received_at = :now "
    "WHERE update_id = :update_id AND status = 'received' AND received_at < :cutoff RETURNING update_id"
)
STATUS = Sql("SELECT status FROM processed_updates WHERE update_id = :update_id")
FINISH = Sql("UPDATE processed_updates SET status = :status WHERE update_id = :update_id")
PRUNE = Sql("DELETE FROM processed_updates WHERE received_at < :before RETURNING update_id")

# Telegram keeps an unconfirmed update for 24 hours and may start a new update_id sequence after a week
# without updates; two days of records cover every redelivery and never meet a reused id.
KEEP = timedelta(days=2)


class Verdict(StrEnum):
    NEW = "new"  # recorded now (or taken over from a dead process): handle it
    DUPLICATE = "duplicate"  # handled (or failed) before: acknowledge, do nothing
    IN_FLIGHT = "in_flight"  # being handled right now somewhere: ask the sender to come back later


class ProcessedUpdates:
    """The `processed_updates` table, on the raw executor (two single-statement writes per update)."""

    def __init__(self, db: RawDb, *, stale_after: timedelta = timedelta(minutes=2)) -> None:
        self.db = db
        self.stale_after = stale_after

    async def begin(self, update_id: int, *, now: datetime | None = None) -> Verdict:
        """Record the update before handling it. Raises `StorageUnavailable` when the database is down."""
        now = now or utcnow()
        # The common case, a new update, is one statement committed on its own (one round trip, where a
        # transaction took three); only a redelivery looks further, in a transaction.
        async with self.db.single() as tx:
            if await tx.fetchrow(RECORD, update_id=update_id, now=now) is not None:
                return Verdict.NEW
        async with self.db.transaction() as tx:
            taken = await tx.fetchrow(TAKE_OVER, update_id=update_id, now=now, cutoff=now - self.stale_after)
            if taken is not None:
                log.warning("update %s: taking over from a process that did not finish it", update_id)
                return Verdict.NEW
            row = await tx.fetchrow(STATUS, update_id=update_id)
        if row is not None and row[0] == "received":
            return Verdict.IN_FLIGHT
        return Verdict.DUPLICATE

    async def finish(self, update_id: int, *, ok: bool) -> None:
        async with self.db.single() as tx:
            await tx.execute(FINISH, update_id=update_id, status="handled" if ok else "failed")

    async def prune(self, *, now: datetime | None = None) -> int:
        """Forget records older than `KEEP`; returns how many went (best effort, for the housekeeping loop)."""
        before = (now or utcnow()) - KEEP
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(PRUNE, before=before)
        return len(rows)
