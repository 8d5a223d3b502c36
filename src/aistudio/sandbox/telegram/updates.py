"""The update queue: getUpdates long polling, or webhook delivery with Telegram's secret-token header."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .errors import bad_request, conflict

log = logging.getLogger(__name__)

# Telegram leaves these out unless the bot asks for them explicitly in allowed_updates.
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_WEBHOOK_ACTIVE = "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

ReplyExecutor = Callable[[aiohttp.ClientResponse], Awaitable[None]]


@dataclass(slots=True)
class Webhook:
    """The webhook the bot registered with setWebhook."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class UpdateHub:
    """Queues updates for the bot and hands them out by long polling or by POSTing to the webhook."""

    def __init__(self, *, retry_delay: float = 0.2, require_https: bool = False) -> None:
        self.next_id = 1  # never reset: a running poller's offset must stay meaningful
        self.pending: dict[int, dict[str, Any]] = {}
        self.allowed: list[str] | None = None
        self.webhook: Webhook | None = None
        self.retry_delay = retry_delay
        self.require_https = require_https
        self.http: aiohttp.ClientSession | None = None
        self.on_reply: ReplyExecutor | None = None
        self._poller: asyncio.Future[None] | None = None
        self._inflight: set[int] = set()
        self._retry_at: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, http: aiohttp.ClientSession, on_reply: ReplyExecutor | None = None) -> None:
        """Start the webhook delivery worker (call inside the running loop)."""
        self.http = http
        self.on_reply = on_reply
        self._wake = asyncio.Event()
        self._worker = asyncio.create_task(self._deliver_loop(), name="telegram-sandbox-webhook")

    def release_poller(self) -> None:
        """Answer a waiting long poll now (empty), so a shutdown does not wait for its timeout."""
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)

    async def stop(self) -> None:
        """Stop delivering; in-flight webhook requests are cancelled."""
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        if self._poller and not self._poller.done():
            self._poller.set_result(None)

    def reset(self) -> None:
        """Drop every pending update (the update_id sequence continues)."""
        self.pending.clear()
        self._retry_at.clear()

    # --- producing -------------------------------------------------------------------------------

    def is_allowed(self, kind: str) -> bool:
        """Whether an update of ``kind`` is delivered under the current allowed_updates setting."""
        return kind in self.allowed if self.allowed else kind not in DEFAULT_EXCLUDED

    def push(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue an update; return its update_id, or None if allowed_updates filters it out."""
        if not self.is_allowed(kind):
            return None
        update_id = self.next_id
        self.next_id += 1
        self.pending[update_id] = {"update_id": update_id, kind: payload}
        if self.webhook is not None:
            self._wake.set()
        elif self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        return update_id

    # --- long polling ----------------------------------------------------------------------------

    @property
    def polling(self) -> bool:
        """Whether a getUpdates long poll is waiting right now."""
        return self._poller is not None and not self._poller.done()

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:  # keep only the last -offset updates, forget the rest
            for update_id in list(self.pending)[:offset]:
                del self.pending[update_id]
            return
        for update_id in list(self.pending):
            if update_id >= offset:
                break
            del self.pending[update_id]

    def _take(self, limit: int) -> list[dict[str, Any]]:
        batch = []
        for update in self.pending.values():
            kind = next(k for k in update if k != "update_id")
            if self.is_allowed(kind):
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    async def get_updates(
        self,
        *,
        offset: int | None,
        limit: int | None,
        poll_timeout: int | None,
        allowed_updates: list[str] | None,
    ) -> list[dict[str, Any]]:
        """getUpdates: confirm below ``offset``, return up to ``limit``, waiting up to ``poll_timeout`` s."""
        if self.webhook is not None:
            raise conflict(_WEBHOOK_ACTIVE)
        if allowed_updates is not None:
            self.allowed = list(allowed_updates)
        limit = 100 if not limit else max(1, min(int(limit), 100))
        self._confirm(offset)
        previous = self._poller
        if previous is not None and not previous.done():
            # Telegram answers the older of two concurrent long polls with 409.
            previous.set_exception(
                conflict("terminated by other getUpdates request; make sure that only one bot instance is running")
            )
            self._poller = None
        batch = self._take(limit)
        if batch or not poll_timeout or poll_timeout <= 0:
            return batch
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = future
        try:
            await asyncio.wait_for(future, poll_timeout)
        except TimeoutError:
            pass
        finally:
            if self._poller is future:
                self._poller = None
        return self._take(limit) if self.webhook is None else []

    # --- webhook ---------------------------------------------------------------------------------

    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None,
        max_connections: int | None,
        allowed_updates: list[str] | None,
        ip_address: str | None,
        drop_pending_updates: bool,
    ) -> None:
        """setWebhook; an empty URL removes the webhook, as in Telegram."""
        if not url:
            self.delete_webhook(drop_pending_updates=drop_pending_updates)
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        if self.require_https and parts.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if secret_token is not None and not _SECRET_RE.match(secret_token):
            raise bad_request("secret token contains unallowed characters")
        if max_connections is not None and not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if drop_pending_updates:
            self.reset()
        if allowed_updates is not None:
            self.allowed = list(allowed_updates)
        self.webhook = Webhook(url, secret_token, max_connections or 40, allowed_updates, ip_address)
        if self._poller is not None and not self._poller.done():
            self._poller.set_exception(conflict("terminated by setWebhook request"))
        self._retry_at.clear()
        self._wake.set()

    def delete_webhook(self, *, drop_pending_updates: bool) -> None:
        """deleteWebhook: switch back to getUpdates."""
        self.webhook = None
        if drop_pending_updates:
            self.reset()

    def webhook_info(self) -> dict[str, Any]:
        """getWebhookInfo."""
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
        if hook:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _deliver_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            hook = self.webhook
            if hook is None:
                continue
            now = loop.time()
            for update_id, update in list(self.pending.items()):
                if len(self._inflight) >= hook.max_connections:
                    break
                if update_id in self._inflight or self._retry_at.get(update_id, 0.0) > now:
                    continue
                self._inflight.add(update_id)
                task = asyncio.create_task(self._deliver(hook, update))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Webhook, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        error: str | None = None
        try:
            assert self.http is not None
            timeout = aiohttp.ClientTimeout(total=60)
            async with self.http.post(hook.url, data=json.dumps(update), headers=headers, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    self.pending.pop(update_id, None)
                    self._retry_at.pop(update_id, None)
                    if self.on_reply is not None:
                        await self.on_reply(resp)
                else:
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            refused = isinstance(exc, aiohttp.ClientConnectorError)
            error = "Connection refused" if refused else str(exc) or type(exc).__name__
        except Exception:  # a broken reply must not kill delivery
            log.exception("webhook reply handling failed")
        finally:
            self._inflight.discard(update_id)
        if error is not None:
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
            # Telegram retries failed deliveries; the same update_id may thus arrive twice.
            loop = asyncio.get_running_loop()
            self._retry_at[update_id] = loop.time() + self.retry_delay
            loop.call_later(self.retry_delay, self._wake.set)
        self._wake.set()
