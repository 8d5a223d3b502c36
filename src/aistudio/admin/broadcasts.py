"""Broadcasts: a message the operator sends to a segment of users, throttled, resumable, never twice.

Life of a broadcast (`broadcasts.status`):  draft ──start──► running ⇄ paused ──► done | cancelled
- `start` snapshots the segment into `broadcast_recipients` (status `pending`), idempotently and in
  batches, so a crash during the snapshot is finished by pressing Confirm again;
- the sender (`broadcast_sender`) claims a running broadcast with a lease and moves each recipient
  pending → sending → sent | failed | blocked. A row is `sending` before Telegram is called, so a row
  found `sending` after a crash may or may not have arrived: it is counted `failed` ("interrupted") and
  never sent again. Nobody gets a broadcast twice; at worst an interrupted one not at all.
- pause / resume / cancel only change the status; the sender reads it between batches, on any replica.

The text is stored as Telegram HTML (the admin's formatting, user text escaped) and sent in HTML mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.admin.broadcast_segments import SEGMENTS, segment_condition
from aistudio.db.rawsql import RawDb, Sql, _writer_lock
from aistudio.db.sql import as_utc, insert_ignore, utcnow
from aistudio.db.tables import broadcast_recipients, broadcasts, users

B = broadcasts
R = broadcast_recipients

SNAPSHOT_BATCH = 2000


_MARK_SENDING = Sql(
    "UPDATE broadcast_recipients SET status = 'sending', updated_at = :now"
    " WHERE broadcast_id = :b AND user_id = :u AND status = 'pending' RETURNING user_id"
)
_MARK_DONE = Sql(
    "UPDATE broadcast_recipients SET status = :status, error = :error, message_id = :mid,"
    " attempts = attempts + :attempts, updated_at = :now"
    " WHERE broadcast_id = :b AND user_id = :u AND status = 'sending'"
)


class Status(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class Delivery(StrEnum):
    """A recipient's status."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"


INTERRUPTED = "interrupted"  # the error of a row found `sending` after a crash


@dataclass(frozen=True)
class Draft:
    """What users will get: HTML text (a caption when there is a photo), an optional URL button."""

    text: str
    photo_file_id: str | None = None
    button_text: str | None = None
    button_url: str | None = None


@dataclass(frozen=True)
class Broadcast:
    id: int
    admin_id: int
    status: Status
    draft: Draft
    segment: str
    rate_per_s: float
    total: int
    sent: int
    failed: int
    blocked: int
    progress_chat_id: int | None
    progress_message_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done_count(self) -> int:
        return self.sent + self.failed + self.blocked


def _broadcast(r: sa.Row) -> Broadcast:
    return Broadcast(
        r.id, r.admin_id, Status(r.status), Draft(r.text, r.photo_file_id, r.button_text, r.button_url),
        r.segment, float(r.rate_per_s), r.total, r.sent, r.failed, r.blocked, r.progress_chat_id,
        r.progress_message_id, as_utc(r.created_at) or r.created_at, as_utc(r.started_at), as_utc(r.finished_at),
    )  # fmt: skip


class BroadcastStore:
    """Every database operation on broadcasts; no Telegram here."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite has one writer: queue this process's writers in turn (shared with the ledger's), as
        # SQLite's own busy handler sleeps up to 100 ms a round and would cap a broadcast at ~50/s.
        self._writer = _writer_lock(engine) if engine.dialect.name == "sqlite" else None
        self._raw = RawDb(engine)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._writer, self.engine.begin() as conn:
            yield conn

    # ---- composing -----------------------------------------------------------------------------------

    async def segment_sizes(self) -> dict[str, int]:
        """How many users each segment names right now."""
        now = utcnow()
        async with self.engine.connect() as conn:
            columns = [sa.func.count().filter(segment_condition(s, now)).label(f"s{i}") for i, s in enumerate(SEGMENTS)]
            row = (await conn.execute(sa.select(*columns).select_from(users))).one()
        return {s: int(row[i] or 0) for i, s in enumerate(SEGMENTS)}

    async def create(self, admin_id: int, draft: Draft, segment: str, rate_per_s: float) -> Broadcast:
        segment_condition(segment, utcnow())  # refuses an unknown segment before anything is stored
        now = utcnow()
        async with self._begin() as conn:
            new_id = (
                await conn.execute(
                    sa.insert(B)
                    .values(
                        admin_id=admin_id,
                        status=Status.DRAFT.value,
                        text=draft.text,
                        photo_file_id=draft.photo_file_id,
                        button_text=draft.button_text,
                        button_url=draft.button_url,
                        segment=segment,
                        rate_per_s=Decimal(str(rate_per_s)),
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(B.c.id)
                )
            ).scalar_one()
        found = await self.get(new_id)
        assert found is not None
        return found

    async def get(self, broadcast_id: int) -> Broadcast | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(B).where(B.c.id == broadcast_id))).first()
        return _broadcast(row) if row else None

    async def recent(self, limit: int = 10) -> list[Broadcast]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(B).order_by(B.c.id.desc()).limit(limit))).all()
        return [_broadcast(r) for r in rows]

    # ---- starting ------------------------------------------------------------------------------------

    async def start(
        self, broadcast_id: int, *, progress_chat_id: int | None = None, progress_message_id: int | None = None
    ) -> Broadcast | None:
        """Snapshot the recipients and switch a draft to running; None if it is not a draft any more."""
        current = await self.get(broadcast_id)
        if current is None or current.status is not Status.DRAFT:
            return None
        await self.snapshot(current)
        now = utcnow()
        async with self._begin() as conn:
            total = await self._count(conn, broadcast_id)
            await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.status == Status.DRAFT.value)
                .values(
                    status=Status.RUNNING.value,
                    total=total,
                    started_at=now,
                    updated_at=now,
                    progress_chat_id=progress_chat_id,
                    progress_message_id=progress_message_id,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return await self.get(broadcast_id)

    async def snapshot(self, broadcast: Broadcast) -> int:
        """Add every user of the segment as `pending` (again: idempotent), in batches by user id."""
        condition = segment_condition(broadcast.segment, utcnow())
        after, added = -1, 0
        while True:
            async with self._begin() as conn:
                ids = (
                    await conn.execute(
                        sa.select(users.c.id)
                        .where(condition, users.c.id > after)
                        .order_by(users.c.id)
                        .limit(SNAPSHOT_BATCH)
                    )
                ).scalars().all()  # fmt: skip
                if not ids:
                    return added
                rows = [
                    {"broadcast_id": broadcast.id, "user_id": uid, "status": Delivery.PENDING.value, "attempts": 0}
                    for uid in ids
                ]
                await conn.execute(insert_ignore(conn, R, ["broadcast_id", "user_id"]), rows)
            added += len(ids)
            after = ids[-1]

    @staticmethod
    async def _count(conn: AsyncConnection, broadcast_id: int) -> int:
        query = sa.select(sa.func.count()).select_from(R).where(R.c.broadcast_id == broadcast_id)
        return int((await conn.execute(query)).scalar_one())

    # ---- operator controls ---------------------------------------------------------------------------

    async def _move(self, broadcast_id: int, to: Status, sources: tuple[Status, ...], **values: object) -> bool:
        now = utcnow()
        async with self._begin() as conn:
            result = await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.status.in_([s.value for s in sources]))
                .values(status=to.value, updated_at=now, **values)
            )
        return result.rowcount == 1

    async def pause(self, broadcast_id: int) -> bool:
        return await self._move(broadcast_id, Status.PAUSED, (Status.RUNNING,))

    async def resume(self, broadcast_id: int) -> bool:
        """Back to running; the lease is cleared so the next sender tick on any replica picks it up."""
        return await self._move(broadcast_id, Status.RUNNING, (Status.PAUSED,), lease_owner=None, lease_until=None)

    async def cancel(self, broadcast_id: int) -> bool:
        sources = (Status.DRAFT, Status.RUNNING, Status.PAUSED)
        return await self._move(broadcast_id, Status.CANCELLED, sources, finished_at=utcnow())

    # ---- the sender's side ---------------------------------------------------------------------------

    async def due(self) -> list[int]:
        """Running broadcasts that no live sender holds (never claimed, released, or its owner died)."""
        now = utcnow()
        query = (
            sa.select(B.c.id)
            .where(B.c.status == Status.RUNNING.value, sa.or_(B.c.lease_until.is_(None), B.c.lease_until < now))
            .order_by(B.c.id)
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars().all())

    async def claim(self, broadcast_id: int, owner: str, lease_s: float) -> bool:
        """Take (or extend) the lease of a running broadcast; False if another live sender holds it."""
        now = utcnow()
        free = sa.or_(B.c.lease_owner.is_(None), B.c.lease_owner == owner, B.c.lease_until < now)
        async with self._begin() as conn:
            result = await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.status == Status.RUNNING.value, free)
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
            )
        return result.rowcount == 1

    async def renew(self, broadcast_id: int, owner: str, lease_s: float) -> Status | None:
        """Extend our lease; the broadcast's status, or None if the lease is no longer ours."""
        now = utcnow()
        async with self._begin() as conn:
            await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.lease_owner == owner)
                .values(lease_until=now + timedelta(seconds=lease_s))
            )
            row = (await conn.execute(sa.select(B.c.status, B.c.lease_owner).where(B.c.id == broadcast_id))).first()
        if row is None or row.lease_owner != owner:
            return None
        return Status(row.status)

    async def release(self, broadcast_id: int, owner: str) -> None:
        async with self._begin() as conn:
            await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def interrupt_sending(self, broadcast_id: int) -> int:
        """Rows a dead sender left `sending` may have arrived: count them failed, never send them again."""
        async with self._begin() as conn:
            result = await conn.execute(
                sa.update(R)
                .where(R.c.broadcast_id == broadcast_id, R.c.status == Delivery.SENDING.value)
                .values(status=Delivery.FAILED.value, error=INTERRUPTED, updated_at=utcnow())
            )
        return result.rowcount

    async def pending(self, broadcast_id: int, limit: int, *, after: int = -1) -> list[int]:
        """The next pending recipients by user id (after `after`: the ones already handed out)."""
        query = (
            sa.select(R.c.user_id)
            .where(R.c.broadcast_id == broadcast_id, R.c.status == Delivery.PENDING.value, R.c.user_id > after)
            .order_by(R.c.user_id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars().all())

    # The two statements run for every recipient: raw, one round trip each (no BEGIN/COMMIT), atomic alone.
    async def mark_sending(self, broadcast_id: int, user_id: int) -> bool:
        """pending → sending, before Telegram is called; False if another sender took the row."""
        async with self._raw.single() as tx:
            row = await tx.fetchrow(_MARK_SENDING, b=broadcast_id, u=user_id, now=utcnow())
        return row is not None

    async def mark_done(
        self, broadcast_id: int, user_id: int, status: Delivery, *, attempts: int, error: str | None = None,
        message_id: int | None = None,
    ) -> None:  # fmt: skip
        async with self._raw.single() as tx:
            await tx.execute(
                _MARK_DONE, b=broadcast_id, u=user_id, status=status.value, error=error[:500] if error else None,
                mid=message_id, attempts=attempts, now=utcnow(),
            )  # fmt: skip

    async def refresh_counters(self, broadcast_id: int) -> Broadcast | None:
        """Recount sent / failed / blocked from the recipients (the truth) into the broadcast row."""
        async with self._begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(R.c.status, sa.func.count())
                    .where(R.c.broadcast_id == broadcast_id)
                    .group_by(R.c.status)
                )
            ).all()  # fmt: skip
            counts = {status: int(n) for status, n in rows}
            await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id)
                .values(
                    sent=counts.get(Delivery.SENT.value, 0),
                    failed=counts.get(Delivery.FAILED.value, 0),
                    blocked=counts.get(Delivery.BLOCKED.value, 0),
                    total=sum(counts.values()),
                    updated_at=utcnow(),
                )
            )
        return await self.get(broadcast_id)

    async def finish(self, broadcast_id: int) -> bool:
        """running → done once nothing is pending or being sent."""
        async with self._begin() as conn:
            open_rows = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(R)
                    .where(
                        R.c.broadcast_id == broadcast_id,
                        R.c.status.in_([Delivery.PENDING.value, Delivery.SENDING.value]),
                    )
                )
            ).scalar_one()  # fmt: skip
            if open_rows:
                return False
            now = utcnow()
            result = await conn.execute(
                sa.update(B)
                .where(B.c.id == broadcast_id, B.c.status == Status.RUNNING.value)
                .values(status=Status.DONE.value, finished_at=now, updated_at=now, lease_owner=None, lease_until=None)
            )
        return result.rowcount == 1
