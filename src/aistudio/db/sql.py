"""Small SQL helpers shared by the repositories: time, and dialect-neutral upserts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def insert_ignore(conn: AsyncConnection, table: Table, index_elements: list[str]) -> Any:
    """`INSERT … ON CONFLICT (index_elements) DO NOTHING` for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=index_elements)


def is_unique_violation(exc: IntegrityError, constraint_hint: str) -> bool:
    """True when `exc` is a unique violation whose message names `constraint_hint` (a column or name)."""
    text = str(exc.orig)
    return ("UNIQUE" in text or "unique" in text or "duplicate key" in text) and constraint_hint in text
