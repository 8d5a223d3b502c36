"""Telling whether the schema is at head needs no Alembic: the head from the revision files, the current
revision from `alembic_version`; both agree with Alembic's own answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.engine import create_engine
from aistudio.db.migrate import alembic_config, current_revision, head_revision


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def test_the_current_revision_is_alembics(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        expected = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    assert await current_revision(engine) == expected == head_revision()


async def test_a_database_never_migrated_has_no_revision(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


def test_reading_revisions_imports_no_alembic() -> None:
    code = "import sys; from aistudio.db.migrate import head_revision; head_revision(); print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
