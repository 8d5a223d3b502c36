"""Migrations: they agree with the table definitions, and upgrading twice is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.migrate import head_revision, is_at_head, upgrade_to_head_async
from aistudio.db.tables import metadata


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )

    assert diff == []


async def test_upgrade_is_idempotent(database_url: str, engine: AsyncEngine) -> None:
    await upgrade_to_head_async(database_url)
    await upgrade_to_head_async(database_url)

    assert await is_at_head(engine)
    assert head_revision(database_url) is not None
