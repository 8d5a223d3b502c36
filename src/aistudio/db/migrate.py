"""Run Alembic migrations programmatically (`aistudio migrate`), and tell whether the schema is at head.

Telling costs no Alembic import (a third of a second at start-up and on every `/readyz`): the head is read
from the revision files' `revision`/`down_revision` lines and the current revision from `alembic_version`.
Alembic itself is imported only to migrate.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE)


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url)
    return cfg


def upgrade_to_head(database_url: str) -> None:
    """Upgrade the database to the newest revision; a no-op when it is already there."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head_async(database_url: str) -> None:
    # Alembic's env runs its own event loop, so keep it off ours.
    await asyncio.to_thread(upgrade_to_head, database_url)


def head_revision(database_url: str | None = None) -> str | None:
    """The newest revision the code knows (the same for every database)."""
    return _head_from_files(MIGRATIONS_DIR / "versions")


@cache
def _head_from_files(versions: Path) -> str | None:
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found, down = _REVISION.search(text), _DOWN.search(text)
        if found is None or down is None:
            return _head_from_alembic()  # a file written in another style: let Alembic read it
        revisions.add(found.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else _head_from_alembic()


def _head_from_alembic() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None before the first migration."""
    async with engine.connect() as conn:
        try:
            return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        except sa.exc.DBAPIError as exc:
            if "alembic_version" in str(exc):  # no such table: never migrated
                return None
            raise


async def is_at_head(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
