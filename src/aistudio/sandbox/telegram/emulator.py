"""The emulator object: configuration, state, files, update hub and rate limiter of one emulated bot."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from .config import EmulatorConfig
from .errors import BotApiError
from .files import FileStore, InputFileResolver, Upload
from .limits import RateLimiter
from .state import SandboxState
from .updates import UpdateHub

log = logging.getLogger(__name__)


class Emulator:
    """Everything one emulated bot needs; the aiohttp app keeps a single instance."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = SandboxState(self.config)
        self.files = FileStore()
        self.limiter = RateLimiter(self.config.rate_limits)
        self.hub = UpdateHub(
            retry_delay=self.config.webhook_retry_delay, require_https=self.config.webhook_require_https
        )
        self.http: aiohttp.ClientSession | None = None
        self.resolver = InputFileResolver(self.files, self.config, None)

    async def start(self) -> None:
        """Open the outgoing HTTP session (URL uploads, webhooks) and start webhook delivery."""
        self.http = aiohttp.ClientSession()
        self.resolver.http = self.http
        self.hub.start(self.http, self._run_webhook_reply)

    def shutdown(self) -> None:
        """Release long polls, waits and event streams before the server stops accepting work."""
        self.hub.release_poller()
        self.state.notifier.close()

    async def stop(self) -> None:
        """Stop background work and close the HTTP session."""
        await self.hub.stop()
        if self.http is not None:
            await self.http.close()
            self.http = None

    def reset(self) -> None:
        """Forget users, messages, files, payments, pending updates and the call log.

        The bot's own settings (webhook, commands, menu button) and the update_id sequence survive,
        because a running bot keeps its polling offset and configuration across test cases.
        """
        self.state.reset()
        self.files.clear()
        self.hub.reset()
        self.limiter.reset()

    async def execute(self, method: str, params: dict[str, Any], uploads: dict[str, Upload] | None = None) -> Any:
        """Run a Bot API method as if the bot had called it over HTTP."""
        from .methods import execute

        return await execute(self, method, params, uploads or {})

    async def _run_webhook_reply(self, resp: aiohttp.ClientResponse) -> None:
        # Telegram executes a method the bot returns in its webhook response body.
        from .methods import read_multipart

        params: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        if resp.content_type == "application/json":
            body = await resp.json()
            if isinstance(body, dict):
                params = body
        elif resp.content_type.startswith("multipart/"):
            await read_multipart(aiohttp.MultipartReader.from_response(resp), params, uploads, self.config.max_upload)
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return
        try:
            await self.execute(method, params, uploads)
        except BotApiError as exc:  # the bot never sees this error, exactly as with Telegram
            log.info("webhook reply %s failed: %s", method, exc.description)
