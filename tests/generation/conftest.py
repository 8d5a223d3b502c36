"""Fixtures for the generation pipeline: a harness with callbacks, and one that polls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aistudio.catalog.loader import Catalog, load_catalog
from aistudio.db.engine import create_engine
from tests.conftest import _truncate_all
from tests.generation.harness import Harness, start_harness


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


async def _harness(database_url: str, catalog: Catalog, tmp_path: Path, callbacks: bool) -> AsyncIterator[Harness]:
    harness, closers = await start_harness(database_url, catalog, tmp_path, callbacks=callbacks)
    try:
        yield harness
    finally:
        await harness.close()
        for close in reversed(closers):
            await close()


@pytest.fixture
async def with_callbacks(database_url: str, catalog: Catalog, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(database_url, catalog, tmp_path, True):
        yield harness


@pytest.fixture
async def polling(database_url: str, catalog: Catalog, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(database_url, catalog, tmp_path, False):
        yield harness


@pytest.fixture
async def pg_polling(pg_database_url: str, catalog: Catalog, tmp_path: Path) -> AsyncIterator[Harness]:
    """PostgreSQL only: for scenarios about PostgreSQL's row claiming."""
    engine = create_engine(pg_database_url, pool_size=2)
    await _truncate_all(engine)
    await engine.dispose()
    async for harness in _harness(pg_database_url, catalog, tmp_path, False):
        yield harness
