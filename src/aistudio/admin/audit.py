"""The audit log of admin actions: who did what to which target, the state before and after, and why.

Every admin feature writes here (`record`), in the same transaction as its change when it has one;
`Ledger.adjust` writes its own row. Both admin panels read it with `recent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aistudio.db.sql import as_utc, utcnow
from aistudio.db.tables import admin_audit


@dataclass(frozen=True)
class AuditEntry:
    id: int
    admin_id: int
    action: str  # dotted: balance.adjust, user.ban, generation.refund, model.disable, ...
    target: str | None  # user:<id>, generation:<id>, model:<id>, ...
    before: Any
    after: Any
    reason: str | None
    created_at: datetime


async def record(
    conn_or_engine: AsyncConnection | AsyncEngine,
    *,
    admin_id: int,
    action: str,
    target: str | None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> None:
    """Write one audit row; with a connection, it commits or rolls back with the caller's change."""
    values = {
        "admin_id": admin_id, "action": action, "target": target, "before": before, "after": after,
        "reason": reason, "created_at": utcnow(),
    }  # fmt: skip
    if isinstance(conn_or_engine, AsyncEngine):
        async with conn_or_engine.begin() as conn:
            await conn.execute(sa.insert(admin_audit).values(**values))
    else:
        await conn_or_engine.execute(sa.insert(admin_audit).values(**values))


async def recent(engine: AsyncEngine, *, limit: int, offset: int = 0, target: str | None = None) -> list[AuditEntry]:
    """The newest entries first, optionally only those about one target (e.g. `user:42`)."""
    a = admin_audit
    query = sa.select(a).order_by(a.c.created_at.desc(), a.c.id.desc()).limit(limit).offset(offset)
    if target is not None:
        query = query.where(a.c.target == target)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        AuditEntry(
            r.id, r.admin_id, r.action, r.target, r.before, r.after, r.reason, as_utc(r.created_at) or r.created_at
        )
        for r in rows
    ]
