"""Shared fixtures. Every database test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.

PostgreSQL tests use a scratch database created for the session (so parallel runs never collide) and
truncate every table between tests. With REQUIRE_POSTGRES=1 (CI), missing PostgreSQL is an error, and a
session in which no PostgreSQL test ran fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.engine import create_engine
from aistudio.db.migrate import upgrade_to_head
from aistudio.db.tables import metadata

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("REQUIRE_POSTGRES") == "1"
_pg_tests_run = 0


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _pg_tests_run
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _pg_tests_run += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_PG and exitstatus == 0 and session.testscollected and _pg_tests_run == 0:
        session.exitstatus = 1
        print("\nREQUIRE_POSTGRES=1 but no PostgreSQL test passed")


def _admin_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_url(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database at head for this session; dropped afterwards."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    name = f"aistudio_t_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(PG_URL, f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade_to_head(url)
    yield url
    asyncio.run(_pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "db.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


async def _truncate_all(engine: AsyncEngine) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def pg_engine(pg_database_url: str) -> AsyncIterator[AsyncEngine]:
    """PostgreSQL only, emptied first: for tests about server behaviour (locks, killed backends)."""
    engine = create_engine(pg_database_url, pool_size=20)
    await _truncate_all(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    url = request.getfixturevalue("pg_database_url")
    engine = create_engine(url, pool_size=2)

    async def clean() -> None:
        await _truncate_all(engine)
        await engine.dispose()

    asyncio.run(clean())
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=20)
    yield engine
    await engine.dispose()
