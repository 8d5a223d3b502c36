"""Helpers for race tests: `asyncio.gather` only overlaps statements on PostgreSQL (SQLite runs one writer at a
time under BEGIN IMMEDIATE), and only when the racers do not queue behind new connections."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


async def open_connections(engine: AsyncEngine, count: int) -> None:
    """Fill the pool with `count` live connections, so racing calls start at once (PostgreSQL; on SQLite each
    connection would hold BEGIN IMMEDIATE's write lock, and nothing overlaps there anyway)."""
    if engine.dialect.name != "postgresql":
        return
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            await (await stack.enter_async_context(engine.connect())).execute(sa.text("SELECT 1"))
