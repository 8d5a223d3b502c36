"""Posting callbacks like Kie: one shared session, bounded concurrency, signed, retried up to 3 times."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from typing import Any

import aiohttp

from aistudio.sandbox.kie.config import EmulatorConfig
from aistudio.sandbox.kie.shapes import callback_body
from aistudio.sandbox.kie.tasks import Task

log = logging.getLogger(__name__)


def signature(key: str, task_id: str, timestamp: str) -> str:
    """Kie's webhook signature, written out here so the emulator does not trust the client's code."""
    mac = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class CallbackSender:
    """Delivers end-of-task callbacks; records every attempt on the task for GET /sandbox/tasks."""

    def __init__(self, config: EmulatorConfig, events: Counter[str]) -> None:
        self._config = config
        self._events = events
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(config.callback_concurrency)
        self._pending: set[asyncio.Task[None]] = set()

    def session(self) -> aiohttp.ClientSession:
        """The shared client session (also used to fetch URL uploads)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.callback_timeout),
                connector=aiohttp.TCPConnector(limit=self._config.callback_concurrency),
            )
        return self._session

    async def close(self) -> None:
        for pending in list(self._pending):
            pending.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def dispatch(self, task: Task) -> None:
        """Deliver in the background (the scheduler must not wait for slow receivers)."""
        job = asyncio.get_running_loop().create_task(self.deliver(task))
        self._pending.add(job)
        job.add_done_callback(self._pending.discard)

    async def deliver(self, task: Task) -> None:
        """Send the task's callback (twice when duplicated; not at all when lost)."""
        if not task.callback_url:
            return
        if task.lose_callback:
            self._events["callbacks_lost"] += 1
            task.callbacks.append({"at": _now_ms(), "lost": True})
            return
        body = json.dumps(callback_body(task), ensure_ascii=False).encode()
        copies = 2 if task.duplicate_callback else 1
        if copies == 2:
            self._events["callbacks_duplicated"] += 1
        for _ in range(copies):
            await self._post(task, body)

    async def _post(self, task: Task, body: bytes) -> None:
        assert task.callback_url is not None
        for attempt in range(1, self._config.callback_attempts + 1):
            headers = {"Content-Type": "application/json"}
            if self._config.hmac_key:
                timestamp = str(int(time.time()))
                headers["X-Webhook-Timestamp"] = timestamp
                headers["X-Webhook-Signature"] = signature(self._config.hmac_key, task.id, timestamp)
            entry: dict[str, Any] = {"at": _now_ms(), "attempt": attempt}
            try:
                async with (
                    self._limit,
                    self.session().post(task.callback_url, data=body, headers=headers) as resp,
                ):
                    entry["status"] = resp.status
                    ok = resp.status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            task.callbacks.append(entry)
            if ok:
                self._events["callbacks_sent"] += 1
                return
            self._events["callback_attempts_failed"] += 1
            if attempt < self._config.callback_attempts:
                await asyncio.sleep(self._config.callback_retry_delay * self._config.time_scale * attempt)
        log.info("kie sandbox: callback for %s given up after %d attempts", task.id, self._config.callback_attempts)


def _now_ms() -> int:
    return int(time.time() * 1000)
