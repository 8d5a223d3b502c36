"""Generation rows and their event log, written through the raw executor (see `aistudio.db.rawsql`).

State changes are compare-and-set (`WHERE state = :expected`): whoever loses a race changes nothing, so
two workers can never both deliver or both refund one generation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aistudio.db.rawsql import RawTx, Sql, read_datetime, read_json
from aistudio.generation.states import State

COLUMNS = (
    "id, request_id, user_id, model_id, family, inputs, state, is_free, credits, price_kopecks, fx_rub_per_usd, "
    "markup, hold_key, kie_task_id, submit_attempts, result_urls, result_files, error_class, kie_code, "
    "error_message, charged_kopecks, poll_count, next_check_at, deadline_at, chat_id, created_at, submitted_at, "
    "completed_at"
)


@dataclass(frozen=True)
class Generation:
    id: int
    request_id: str
    user_id: int
    model_id: str
    family: str
    inputs: dict[str, Any]
    state: State
    is_free: bool
    credits: Decimal
    price_kopecks: int
    fx_rub_per_usd: Decimal
    markup: Decimal
    hold_key: str | None
    kie_task_id: str | None
    submit_attempts: int
    result_urls: list[str]
    result_files: list[dict[str, Any]]
    error_class: str | None
    kie_code: int | None
    error_message: str | None
    charged_kopecks: int
    poll_count: int
    next_check_at: datetime | None
    deadline_at: datetime | None
    chat_id: int | None
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None

    @property
    def free_key(self) -> str:
        return f"gen:{self.request_id}"


def _generation(row: Any) -> Generation:
    # fmt: off
    (gid, rq, user, model, family, inputs, state, free, credits, price, fx, markup, hold_key, task, attempts,
     urls, files, err, code, msg, charged, polls, next_at, deadline, chat, created, submitted, completed) = row
    # fmt: on
    return Generation(
        gid,
        rq,
        user,
        model,
        family,
        read_json(inputs) or {},
        State(state),
        bool(free),
        Decimal(str(credits)),
        price,
        Decimal(str(fx)),
        Decimal(str(markup)),
        hold_key,
        task,
        attempts,
        read_json(urls) or [],
        read_json(files) or [],
        err,
        code,
        msg,
        charged,
        polls,
        read_datetime(next_at),
        read_datetime(deadline),
        chat,
        read_datetime(created),
        read_datetime(submitted),
        read_datetime(completed),
    )  # fmt: skip


_RQ_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_request_id() -> str:
    """`RQ-` and 8 characters users can read out to support (no 0/O or 1/I confusion)."""
    # 32 letters, so each random byte picks one uniformly (256 = 8 × 32); one read of the OS's randomness
    # instead of one per character.
    return "RQ-" + "".join(_RQ_ALPHABET[b % 32] for b in secrets.token_bytes(8))


INSERT = Sql(
    "INSERT INTO generations (request_id, user_id, model_id, family, inputs, state, is_free, credits, "
    "price_kopecks, fx_rub_per_usd, markup, hold_key, submit_attempts, charged_kopecks, poll_count, chat_id, "
    "source_generation_id, next_check_at, deadline_at, created_at, updated_at) VALUES (:request_id, :user_id, "
    ":model_id, :family, :inputs, 'held', :is_free, :credits, :price, :fx, :markup, :hold_key, 0, 0, 0, :chat_id, "
    f":source_id, :now, :deadline, :now, :now) RETURNING {COLUMNS}"
)
GET = Sql(f"SELECT {COLUMNS} FROM generations WHERE id = :id")
GET_FOR_UPDATE = Sql(f"SELECT {COLUMNS} FROM generations WHERE id = :id FOR UPDATE")
BY_TASK = Sql(f"SELECT {COLUMNS} FROM generations WHERE kie_task_id = :task_id")
COUNT_ACTIVE = Sql(
    "SELECT count(*) FROM generations WHERE user_id = :user_id "
    "AND state IN ('held', 'submitted', 'succeeded', 'downloaded', 'sending')"
)
LOCK_USER = Sql("SELECT id FROM users WHERE id = :user_id FOR UPDATE")
INSERT_EVENT = Sql(
    "INSERT INTO generation_events (generation_id, request_id, user_id, model_id, state, error_class, kie_code, "
    "kie_message, credits, price_kopecks, elapsed_ms, detail, created_at) VALUES (:gid, :request_id, :user_id, "
    ":model_id, :state, :error_class, :kie_code, :kie_message, :credits, :price, :elapsed_ms, :detail, :now)"
)
# Claim due work: rows whose next check is due and whose lease (if any) has run out.
CLAIM_DUE = Sql(
    "SELECT id FROM generations WHERE state IN ('held', 'submitted', 'succeeded', 'downloaded', 'sending') "
    "AND next_check_at <= :now AND (lease_until IS NULL OR lease_until < :now) "
    "ORDER BY next_check_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
# Only a free or expired lease can be taken, even by the same process: two drivers of one row in one
# process would race each other exactly like two replicas.
LEASE = Sql(
    "UPDATE generations SET lease_owner = :owner, lease_until = :until WHERE id = :id "
    f"AND (lease_until IS NULL OR lease_until < :now) RETURNING {COLUMNS}"
)
# The launch path: only a row still waiting to be submitted (the resumer may have submitted it meanwhile).
LEASE_HELD = Sql(
    "UPDATE generations SET lease_owner = :owner, lease_until = :until WHERE id = :id AND state = 'held' "
    f"AND (lease_until IS NULL OR lease_until < :now) RETURNING {COLUMNS}"
)
CLAIM_SUBMIT = Sql(
    "UPDATE generations SET submit_attempts = :attempts + 1, updated_at = :now "
    "WHERE id = :id AND state = 'held' AND submit_attempts = :attempts AND kie_task_id IS NULL RETURNING id"
)
MARK_NOTIFIED = Sql(
    "UPDATE generations SET next_check_at = NULL, updated_at = :now "
    "WHERE id = :id AND state = 'failed' AND next_check_at IS NOT NULL RETURNING id"
)
ADOPT_TASK = Sql(
    "UPDATE generations SET state = 'submitted', kie_task_id = :task_id, submitted_at = :now, updated_at = :now "
    "WHERE id = :id AND state = 'held' AND submit_attempts > 0 AND kie_task_id IS NULL RETURNING id"
)
DUE_NOW = Sql("UPDATE generations SET next_check_at = :now WHERE id = :id AND state = 'submitted'")
UNLEASE = Sql("UPDATE generations SET lease_owner = NULL, lease_until = NULL WHERE id = :id AND lease_owner = :owner")


def transition_sql(assignments: str) -> Sql:
    """A compare-and-set state change; `assignments` are extra `col = :param` pairs."""
    extra = f", {assignments}" if assignments else ""
    return Sql(
        f"UPDATE generations SET state = :new_state, updated_at = :now{extra} "
        f"WHERE id = :id AND state = :expected RETURNING {COLUMNS}"
    )


def logged_transition_sql(assignments: str) -> Sql:
    """PostgreSQL: the compare-and-set and its event row in one statement (one round trip, atomic alone).
    The event copies the row's own columns; nothing is inserted when the compare-and-set matched no row."""
    extra = f", {assignments}" if assignments else ""
    return Sql(
        f"WITH moved AS (UPDATE generations SET state = :new_state, updated_at = :now{extra} "
        f"WHERE id = :id AND state = :expected RETURNING {COLUMNS}), "
        "event AS (INSERT INTO generation_events (generation_id, request_id, user_id, model_id, state, error_class, "
        "kie_code, kie_message, credits, price_kopecks, elapsed_ms, detail, created_at) "
        "SELECT id, request_id, user_id, model_id, state, CAST(:event_error_class AS varchar), "
        "CAST(:event_kie_code AS integer), CAST(:event_kie_message AS text), credits, price_kopecks, "
        "CAST(:event_elapsed_ms AS bigint), CAST(:event_detail AS json), "
        f"CAST(:now AS timestamptz) FROM moved) SELECT {COLUMNS} FROM moved"
    )


class GenerationRepo:
    """Reads and compare-and-set writes of generation rows inside a caller's transaction."""

    def __init__(self) -> None:
        self._transitions: dict[str, Sql] = {}
        self._logged: dict[str, Sql] = {}

    async def insert(self, tx: RawTx, **values: Any) -> Generation:
        row = await tx.fetchrow(INSERT, **values)
        assert row is not None
        return _generation(row)

    async def get(self, tx: RawTx, generation_id: int, *, lock: bool = False) -> Generation | None:
        row = await tx.fetchrow(GET_FOR_UPDATE if lock else GET, id=generation_id)
        return _generation(row) if row else None

    async def by_task(self, tx: RawTx, task_id: str) -> Generation | None:
        row = await tx.fetchrow(BY_TASK, task_id=task_id)
        return _generation(row) if row else None

    async def count_active(self, tx: RawTx, user_id: int) -> int:
        row = await tx.fetchrow(COUNT_ACTIVE, user_id=user_id)
        return int(row[0]) if row else 0

    async def lock_user(self, tx: RawTx, user_id: int) -> bool:
        return await tx.fetchrow(LOCK_USER, user_id=user_id) is not None

    async def move(
        self, tx: RawTx, generation_id: int, expected: State, new: State, now: datetime, **changes: Any
    ) -> Generation | None:
        """Set `state` from `expected` to `new` (plus `changes`) and return the new row; None when another
        worker got there first."""
        key = ",".join(sorted(changes))
        sql = self._transitions.get(key)
        if sql is None:
            sql = self._transitions[key] = transition_sql(", ".join(f"{c} = :{c}" for c in sorted(changes)))
        row = await tx.fetchrow(sql, id=generation_id, expected=expected.value, new_state=new.value, now=now, **changes)
        return _generation(row) if row else None

    async def move_logged(
        self,
        tx: RawTx,
        gen: Generation,
        new: State,
        now: datetime,
        event: dict[str, Any],
        *,
        postgres: bool,
        **changes: Any,
    ) -> Generation | None:
        """`move` plus its event row. On PostgreSQL one statement, safe outside a transaction; elsewhere two,
        so the caller must hold a transaction."""
        if not postgres:
            moved = await self.move(tx, gen.id, gen.state, new, now, **changes)
            if moved is not None:
                await self.record_event(tx, gen, new, now, **event)
            return moved
        key = ",".join(sorted(changes))
        sql = self._logged.get(key)
        if sql is None:
            sql = self._logged[key] = logged_transition_sql(", ".join(f"{c} = :{c}" for c in sorted(changes)))
        row = await tx.fetchrow(
            sql, id=gen.id, expected=gen.state.value, new_state=new.value, now=now, **changes,
            **{f"event_{k}": v for k, v in _event_fields(gen, now, event).items()},
        )  # fmt: skip
        return _generation(row) if row else None

    async def claim_submit(self, tx: RawTx, generation_id: int, attempts: int, now: datetime) -> bool:
        """Count a createTask attempt before it is sent; only one worker can claim attempt N."""
        return await tx.fetchrow(CLAIM_SUBMIT, id=generation_id, attempts=attempts, now=now) is not None

    async def mark_notified(self, tx: RawTx, generation_id: int, now: datetime) -> bool:
        """Claim the one failure notice of a failed generation."""
        return await tx.fetchrow(MARK_NOTIFIED, id=generation_id, now=now) is not None

    async def adopt_task(self, tx: RawTx, generation_id: int, task_id: str, now: datetime) -> bool:
        """A callback named the task that a crash (or a lost answer) kept us from recording."""
        return await tx.fetchrow(ADOPT_TASK, id=generation_id, task_id=task_id, now=now) is not None

    async def record_event(self, tx: RawTx, gen: Generation, state: State, now: datetime, **fields: Any) -> None:
        await tx.execute(
            INSERT_EVENT,
            gid=gen.id,
            request_id=gen.request_id,
            user_id=gen.user_id,
            model_id=gen.model_id,
            state=state.value,
            credits=str(gen.credits),
            price=gen.price_kopecks,
            now=now,
            **_event_fields(gen, now, fields),
        )

    async def claim_due(self, tx: RawTx, now: datetime, limit: int) -> list[int]:
        return [int(r[0]) for r in await tx.fetchall(CLAIM_DUE, now=now, limit=limit)]

    async def lease(
        self, tx: RawTx, generation_id: int, owner: str, now: datetime, until: datetime, *, held_only: bool = False
    ) -> Generation | None:
        """Take the row's lease if it is free or expired; returns the row (None: someone else holds it, or
        with `held_only` the row is past `held`)."""
        sql = LEASE_HELD if held_only else LEASE
        row = await tx.fetchrow(sql, id=generation_id, owner=owner, now=now, until=until)
        return _generation(row) if row else None

    async def due_now(self, tx: RawTx, generation_id: int, now: datetime) -> None:
        await tx.execute(DUE_NOW, id=generation_id, now=now)

    async def unlease(self, tx: RawTx, generation_id: int, owner: str) -> None:
        await tx.execute(UNLEASE, id=generation_id, owner=owner)


def _event_fields(gen: Generation, now: datetime, fields: dict[str, Any]) -> dict[str, Any]:
    elapsed = int((now - gen.created_at).total_seconds() * 1000) if gen.created_at else None
    return {
        "error_class": fields.get("error_class"),
        "kie_code": fields.get("kie_code"),
        "kie_message": fields.get("kie_message"),
        "elapsed_ms": elapsed,
        "detail": fields.get("detail"),
    }
