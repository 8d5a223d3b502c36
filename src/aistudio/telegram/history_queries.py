"""Reading a user's generations for the history screen (newest first, a page at a time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.sql import as_utc
from aistudio.db.tables import generations

G = generations


@dataclass(frozen=True)
class HistoryItem:
    """One line of the history list: enough to show it and to open it."""

    id: int
    model_id: str
    state: str
    is_free: bool
    price_kopecks: int
    charged_kopecks: int
    created_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    page: int  # zero-based, clamped to the pages that exist
    pages: int  # at least 1
    total: int


async def history_page(engine: AsyncEngine, user_id: int, page: int, *, per_page: int) -> HistoryPage:
    """The `page`-th slice of the user's generations, newest first; a page past the end shows the last one."""
    async with engine.connect() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).where(G.c.user_id == user_id))).scalar_one()
        pages = max(1, -(-int(total) // per_page))
        page = min(max(page, 0), pages - 1)
        rows = await conn.execute(
            sa.select(
                G.c.id, G.c.model_id, G.c.state, G.c.is_free, G.c.price_kopecks, G.c.charged_kopecks, G.c.created_at
            )
            .where(G.c.user_id == user_id)
            .order_by(G.c.created_at.desc(), G.c.id.desc())
            .offset(page * per_page)
            .limit(per_page)
        )
        items = [
            HistoryItem(
                r.id,
                r.model_id,
                r.state,
                bool(r.is_free),
                r.price_kopecks,
                r.charged_kopecks,
                as_utc(r.created_at) or r.created_at,
            )
            for r in rows
        ]
    return HistoryPage(items, page, pages, int(total))
