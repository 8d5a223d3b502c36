"""A thin executor over the driver connection (asyncpg or aiosqlite) for hot paths such as the ledger.

SQLAlchemy's async layer spent about 4× the CPU of the statements themselves on the ledger's short
transactions (greenlet hops, result adaptation). Hot paths write plain SQL with `:name` parameters once;
this module turns it into `$1` (asyncpg) or `?1` (SQLite) and runs it on a connection checked out of the
same SQLAlchemy pool, so pooling, disposal and configuration stay in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

_PARAM = re.compile(r"(?<![:\w]):([a-zA-Z_]\w*)")
# Row locks are PostgreSQL's; SQLite's BEGIN IMMEDIATE already gives the transaction the whole database.
_ROW_LOCK = re.compile(r"\s+FOR UPDATE(\s+SKIP LOCKED)?", re.IGNORECASE)


class DuplicateKey(Exception):
    """A unique constraint refused an insert; `constraint` holds the driver's words."""


class TransientConflict(Exception):
    """The database rolled the transaction back to break a deadlock or a serialization conflict; retry it."""


class StorageUnavailable(Exception):
    """The database failed mid-transaction (lost connection, server restart); it was rolled back."""


@dataclass(frozen=True)
class Sql:
    """A statement with `:name` parameters, rendered per dialect on first use."""

    text: str

    def render(self, dialect: str) -> tuple[str, list[str]]:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            index = names.index(name) + 1
            return f"${index}" if dialect == "postgresql" else f"?{index}"

        text = self.text if dialect == "postgresql" else _ROW_LOCK.sub("", self.text)
        return _PARAM.sub(number, text), names


def read_datetime(value: Any) -> datetime | None:
    """A timestamp column read through the raw driver: asyncpg gives datetimes, SQLite gives text."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def read_json(value: Any) -> Any:
    """A JSON column read through the raw driver (text on both drivers)."""
    return json.loads(value) if isinstance(value, str) else value


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # The format SQLAlchemy's SQLite DateTime uses, so rows written here read back through SQLAlchemy.
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return str(value)  # NUMERIC affinity stores it as a number; sqlite3 cannot bind Decimal
    return value


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)  # asyncpg takes JSON columns as text
    return value


class RawTx:
    """One transaction on a driver connection. Rows come back as tuples."""

    def __init__(self, driver: Any, dialect: str, cache: dict[str, tuple[str, list[str]]], fault: Any) -> None:
        self._driver = driver
        self._pg = dialect == "postgresql"
        self._dialect = dialect
        self._cache = cache
        self._fault = fault

    def _prepare(self, sql: Sql, params: dict[str, Any]) -> tuple[str, list[Any]]:
        rendered = self._cache.get(sql.text)
        if rendered is None:
            rendered = self._cache[sql.text] = sql.render(self._dialect)
        text, names = rendered
        convert = _pg_value if self._pg else _sqlite_value
        if self._fault is not None:
            self._fault(sql.text)
        return text, [convert(params[n]) for n in names]

    async def fetchrow(self, sql: Sql, **params: Any) -> Sequence[Any] | None:
        text, args = self._prepare(sql, params)
        if self._pg:
            return await self._driver.fetchrow(text, *args)
        cursor = await self._driver.execute(text, args)
        try:
            return await cursor.fetchone()
        finally:
            await cursor.close()

    async def fetchall(self, sql: Sql, **params: Any) -> list[Sequence[Any]]:
        text, args = self._prepare(sql, params)
        if self._pg:
            return list(await self._driver.fetch(text, *args))
        cursor = await self._driver.execute(text, args)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()

    async def execute(self, sql: Sql, **params: Any) -> None:
        text, args = self._prepare(sql, params)
        if self._pg:
            await self._driver.execute(text, *args)
        else:
            await (await self._driver.execute(text, args)).close()


def _is_unique_violation(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "UniqueViolationError" or (name == "IntegrityError" and "UNIQUE constraint failed" in str(exc))


async def _translate(pooled: Any, exc: Exception) -> None:
    """Raise the typed form of a driver error (dropping a broken connection from the pool); else return."""
    if _is_unique_violation(exc):
        raise DuplicateKey(str(exc)) from exc
    if _is_transient_conflict(exc):
        raise TransientConflict(str(exc)) from exc
    if _is_driver_error(exc) and not _is_constraint_error(exc):
        await greenlet_spawn(pooled.invalidate, exc)  # closed now; the pool opens a fresh one next time
        raise StorageUnavailable(str(exc)) from exc


def _is_transient_conflict(exc: BaseException) -> bool:
    return type(exc).__name__ in ("DeadlockDetectedError", "SerializationError")


def _is_constraint_error(exc: BaseException) -> bool:
    return type(exc).__name__ in ("IntegrityError", "CheckViolationError", "ForeignKeyViolationError")


def _writer_lock(engine: AsyncEngine) -> asyncio.Lock:
    lock = getattr(engine.sync_engine, "_aistudio_sqlite_writer", None)
    if lock is None:
        lock = asyncio.Lock()
        engine.sync_engine._aistudio_sqlite_writer = lock  # type: ignore[attr-defined]
    return lock


class RawDb:
    """Runs short transactions on raw driver connections borrowed from `engine`'s pool."""

    def __init__(self, engine: AsyncEngine, *, fault: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._cache: dict[str, tuple[str, list[str]]] = {}
        # SQLite has one writer at a time; queueing this process's writers here is fair and immediate,
        # where letting each connection retry in SQLite's busy handler sleeps for up to 100 ms a round.
        # One queue per engine, shared by every executor on it.
        self._sqlite_writer = _writer_lock(engine) if self.dialect == "sqlite" else None
        # A test seam: called with each statement's text before it runs, to inject a failure.
        self.fault = fault

    @asynccontextmanager
    async def _borrow(self) -> AsyncIterator[Any]:
        """A connection straight from the engine's pool: what `engine.connect()` gives, without the SQLAlchemy
        `Connection` around it (~30 µs of CPU per checkout instead of ~75 µs; several per Telegram update).
        Yields the pool's connection record; `.driver_connection` is the asyncpg / aiosqlite connection."""
        try:
            pooled = await greenlet_spawn(self.engine.sync_engine.pool.connect)
        except Exception as exc:
            if _is_driver_error(exc):
                raise StorageUnavailable(f"cannot connect: {exc}") from exc
            raise
        try:
            yield pooled
        finally:
            await greenlet_spawn(pooled.close)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[RawTx]:
        """Single-statement reads without BEGIN/COMMIT (one round trip instead of three); on SQLite they
        do not queue for the write lock either (WAL readers never block the writer). Never write here."""
        async with self._borrow() as pooled:
            try:
                yield RawTx(pooled.driver_connection, self.dialect, self._cache, self.fault)
            except Exception as exc:
                await _translate(pooled, exc)
                raise

    @asynccontextmanager
    async def single(self) -> AsyncIterator[RawTx]:
        """One write statement on its own, committed by the database as it runs (no BEGIN/COMMIT: one
        round trip instead of three). For statements that are atomic alone: a compare-and-set, a lease."""
        async with self._writer_turn(), self.reading() as tx:
            yield tx

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        async with self._sqlite_writer:
            yield

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTx]:
        """BEGIN (IMMEDIATE on SQLite) … COMMIT; rollback on any error.

        A unique violation surfaces as `DuplicateKey`; a lost connection or server error as
        `StorageUnavailable` (the connection is dropped from the pool); anything raised by the caller's
        own code passes through unchanged.
        """
        async with self._writer_turn(), self._borrow() as pooled:
            driver = pooled.driver_connection
            try:
                if self.dialect == "postgresql":
                    async with driver.transaction():
                        yield RawTx(driver, self.dialect, self._cache, self.fault)
                else:
                    await driver.execute("BEGIN IMMEDIATE")
                    try:
                        yield RawTx(driver, self.dialect, self._cache, self.fault)
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await driver.execute("ROLLBACK")
                        raise
                    await driver.execute("COMMIT")
            except Exception as exc:
                await _translate(pooled, exc)
                raise


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return (
        module.startswith(("asyncpg", "sqlite3", "aiosqlite"))
        or isinstance(exc, ConnectionError | OSError)
        or type(exc).__name__ in ("InterfaceError", "OperationalError", "DBAPIError")
    )
