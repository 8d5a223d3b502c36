"""The polling lock: only one instance long-polls Telegram at a time; the others wait and take over.

Two instances calling getUpdates fight (Telegram answers one of them 409 on every poll). Instead each
instance takes a lock before polling: a PostgreSQL session advisory lock on a dedicated connection, or on
SQLite an exclusive `flock` on a file next to the database. An instance that cannot take it logs that it is
waiting and tries again. The advisory lock lives as long as its connection: if that connection dies (the
server restarts, or an operator terminates it) the lock is gone, `lost` is set, and the holder stops polling
until it has taken the lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

WAIT_LOG_EVERY_S = 30.0


def lock_key(bot_id: int | str) -> int:
    """A signed 64-bit advisory-lock key of this bot (two bots may share one database)."""
    digest = hashlib.sha256(f"aistudio:polling:{bot_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PollingLock(Protocol):
    lost: asyncio.Event

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until the lock is ours (True) or `stop` is set (False)."""
        ...

    async def release(self) -> None: ...


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class _WaitLog:
    """'Waiting' once when the wait starts, then every WAIT_LOG_EVERY_S, not on every attempt."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._last: float | None = None
        self.started = time.monotonic()

    def tick(self, reason: str) -> None:
        now = time.monotonic()
        if self._last is None or now - self._last >= WAIT_LOG_EVERY_S:
            self._last = now
            log.info(
                "waiting for the polling lock (%s): %s; waited %.0f s so far", self.what, reason, now - self.started
            )


class PgAdvisoryLock:
    """`pg_try_advisory_lock(key)` held on a connection of its own (never one from the pool)."""

    def __init__(
        self, dsn: str, key: int, *, retry_s: float = 2.0, check_s: float | None = None, connect_timeout: float = 5.0
    ) -> None:
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.key = key
        self.retry_s = retry_s
        self.check_s = check_s or retry_s
        self.connect_timeout = connect_timeout
        self.lost = asyncio.Event()
        self._conn: Any = None
        self._watchdog: asyncio.Task[None] | None = None

    async def _connection(self) -> Any:
        import asyncpg

        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn, timeout=self.connect_timeout, server_settings={"application_name": "aistudio-polling-lock"}
            )
        return self._conn

    async def acquire(self, stop: asyncio.Event) -> bool:
        waiting = _WaitLog(f"PostgreSQL advisory lock {self.key}")
        while not stop.is_set():
            try:
                conn = await self._connection()
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
                    self.lost = asyncio.Event()
                    conn.add_termination_listener(lambda _conn: self.lost.set())
                    self._watchdog = asyncio.create_task(self._watch(conn))
                    log.info("polling lock taken (PostgreSQL advisory lock %s)", self.key)
                    return True
                waiting.tick("another instance is polling")
            except Exception as exc:  # asyncpg errors, refused connections, timeouts
                await self._drop()
                waiting.tick(f"database unreachable: {exc!r}")
            await _pause(stop, self.retry_s)
        await self._drop()
        return False

    async def _watch(self, conn: Any) -> None:
        """Notice a dead lock connection within `check_s` (a terminated backend, a restarted server)."""
        while not self.lost.is_set():
            await _pause(self.lost, self.check_s)
            if self.lost.is_set():
                break
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=max(self.check_s, 1.0))
            except Exception as exc:
                log.warning("polling lock lost: its connection failed (%r)", exc)
                self.lost.set()
        if conn.is_closed():
            log.warning("polling lock lost: its connection closed")

    async def release(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        conn = self._conn
        if conn is not None and not conn.is_closed() and not self.lost.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.fetchval("SELECT pg_advisory_unlock($1)", self.key), timeout=5)
                log.info("polling lock released")
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except Exception:
                conn.terminate()


class FileLock:
    """An exclusive, non-blocking `flock` on `path`; the kernel releases it when the process dies."""

    def __init__(self, path: Path, *, retry_s: float = 1.0) -> None:
        self.path = path
        self.retry_s = retry_s
        self.lost = asyncio.Event()  # a file lock is never lost while the process lives
        self._fd: int | None = None

    def _try(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def acquire(self, stop: asyncio.Event) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        waiting = _WaitLog(f"file lock {self.path}")
        while not stop.is_set():
            if self._try():
                log.info("polling lock taken (file lock %s)", self.path)
                return True
            waiting.tick("another instance is polling")
            await _pause(stop, self.retry_s)
        return False

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            log.info("polling lock released")


class NoLock:
    """An in-memory SQLite database cannot be shared by two processes anyway."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()

    async def acquire(self, stop: asyncio.Event) -> bool:
        return not stop.is_set()

    async def release(self) -> None:
        return None


def polling_lock(database_url: str, sqlite_path: Path | None, bot_id: int | str, **options: Any) -> PollingLock:
    """The lock for this database: advisory on PostgreSQL, a file next to a SQLite database."""
    if database_url.startswith("postgresql"):
        return PgAdvisoryLock(database_url, lock_key(bot_id), **options)
    if sqlite_path is not None:
        return FileLock(sqlite_path.with_name(sqlite_path.name + ".polling.lock"), **options)
    return NoLock()
