"""Async client of the emulator's control API, for end-to-end tests and tools.

async with SandboxTelegramClient("http://127.0.0.1:8080") as tg:
    await tg.create_user(1001, "Anna", language_code="ru")
    sent = await tg.send_text(1001, "/start")
    reply = await tg.wait_for_reply(1001, after_message_id=sent["message_id"])
    await tg.press(1001, reply["message_id"], text="Balance")
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a context costs ~30 ms; tests create many clients, so they share one.
    return ssl.create_default_context()


class SandboxError(Exception):
    """The control API answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class SandboxTelegramClient:
    """Drives simulated users of the Telegram emulator over HTTP.

    ``timeout`` arguments of the wait methods are enforced by the emulator's ``/wait`` endpoint, which
    returns as soon as the condition holds, so tests never sleep.
    """

    def __init__(self, base_url: str, *, http: httpx.AsyncClient | None = None, request_timeout: float = 70.0):
        self.base_url = base_url.rstrip("/")
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=request_timeout, verify=_ssl_context())

    async def __aenter__(self) -> SandboxTelegramClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_http:
            await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, self.base_url + path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise SandboxError(response.status_code, body)
        return body

    # --- users -----------------------------------------------------------------------------------

    async def create_user(
        self,
        user_id: int | None = None,
        first_name: str = "Test User",
        *,
        username: str | None = None,
        language_code: str | None = "en",
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Create (or update) a user; returns the Telegram ``User`` object."""
        body: dict[str, Any] = {"first_name": first_name, "language_code": language_code}
        for key, value in (("id", user_id), ("username", username), ("last_name", last_name)):
            if value is not None:
                body[key] = value
        return (await self._call("POST", "/sandbox/users", json=body))["user"]

    async def send_text(self, user_id: int, text: str, *, reply_to_message_id: int | None = None) -> dict[str, Any]:
        """The user writes ``text``; returns ``{"message_id", "update_id", "message"}``."""
        body: dict[str, Any] = {"text": text}
        if reply_to_message_id is not None:
            body["reply_to_message_id"] = reply_to_message_id
        return await self._call("POST", f"/sandbox/users/{user_id}/messages", json=body)

    async def send_file(
        self,
        user_id: int,
        content: bytes | str | Path,
        *,
        kind: str = "document",
        filename: str | None = None,
        caption: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """The user sends a file as photo, document, audio, video, voice or animation."""
        if isinstance(content, str | Path):
            path = Path(content)
            filename = filename or path.name
            content = await asyncio.to_thread(path.read_bytes)
        data = {"kind": kind}
        if caption is not None:
            data["caption"] = caption
        files = {"file": (filename or f"{kind}.bin", content, content_type)}
        return await self._call("POST", f"/sandbox/users/{user_id}/messages", data=data, files=files)

    async def press(
        self,
        user_id: int,
        message_id: int | None = None,
        *,
        text: str | None = None,
        callback_data: str | None = None,
        wait: float = 0.0,
    ) -> dict[str, Any]:
        """Press a button; with ``wait`` > 0 the result includes the bot's answerCallbackQuery."""
        body: dict[str, Any] = {"wait": wait}
        for key, value in (("message_id", message_id), ("text", text), ("callback_data", callback_data)):
            if value is not None:
                body[key] = value
        return await self._call("POST", f"/sandbox/users/{user_id}/press", json=body)

    async def pay(
        self,
        user_id: int,
        message_id: int | None = None,
        *,
        invoice_link: str | None = None,
        answer_timeout: float | None = None,
    ) -> dict[str, Any]:
        """Pay an invoice message (or link); returns ``{"status": "paid" | "declined" | "timeout", ...}``."""
        body: dict[str, Any] = {}
        if message_id is not None:
            body["message_id"] = message_id
        if invoice_link is not None:
            body["invoice_link"] = invoice_link
        if answer_timeout is not None:
            body["timeout"] = answer_timeout
        return await self._call("POST", f"/sandbox/users/{user_id}/pay", json=body)

    async def block(self, user_id: int, blocked: bool = True) -> dict[str, Any]:
        """Block (or unblock) the bot as this user."""
        return await self._call("POST", f"/sandbox/users/{user_id}/block", json={"blocked": blocked})

    # --- reading and waiting ---------------------------------------------------------------------

    async def transcript(self, user_id: int, *, after_version: int | None = None) -> dict[str, Any]:
        """The chat transcript: ``messages`` (both directions), ``version``, keyboard and status."""
        params = {} if after_version is None else {"after_version": after_version}
        return await self._call("GET", f"/sandbox/users/{user_id}/transcript", params=params)

    async def messages(self, user_id: int) -> list[dict[str, Any]]:
        """All messages of the chat, oldest first."""
        return (await self.transcript(user_id))["messages"]

    async def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        """Messages the bot sent (deleted ones excluded)."""
        return [m for m in await self.messages(user_id) if m["direction"] == "out" and not m["deleted"]]

    async def wait_for_reply(
        self,
        user_id: int,
        *,
        after_message_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The first bot message after ``after_message_id`` (default: after the user's latest message).

        Raises ``TimeoutError`` when the bot sends nothing within ``timeout`` seconds.
        """
        if after_message_id is None:
            incoming = [m["message_id"] for m in await self.messages(user_id) if m["direction"] == "in"]
            after_message_id = max(incoming, default=0)
        params = {"after_message_id": after_message_id, "timeout": timeout}
        result = await self._call("GET", f"/sandbox/users/{user_id}/wait", params=params)
        if result["timed_out"]:
            raise TimeoutError(f"the bot sent nothing after message {after_message_id} within {timeout} s")
        return result["messages"][0]

    async def wait_for_change(
        self,
        user_id: int,
        after_version: int,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait until anything in the chat changes after ``after_version``; returns the changed messages."""
        params = {"after_version": after_version, "timeout": timeout}
        result = await self._call("GET", f"/sandbox/users/{user_id}/wait", params=params)
        if result["timed_out"]:
            raise TimeoutError(f"nothing changed after version {after_version} within {timeout} s")
        return result

    async def wait_until(
        self,
        user_id: int,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait until ``predicate(transcript)`` holds; returns that transcript. Never polls blindly."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            current = await self.transcript(user_id)
            if predicate(current):
                return current
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            params = {"after_version": current["version"], "timeout": remaining}
            await self._call("GET", f"/sandbox/users/{user_id}/wait", params=params)

    async def file_bytes(self, file_url: str) -> bytes:
        """Download a file shown in a transcript (``media.file_url``)."""
        response = await self._http.get(self.base_url + file_url)
        response.raise_for_status()
        return response.content

    # --- emulator --------------------------------------------------------------------------------

    async def calls(self, method: str | None = None, *, since: int | None = None) -> list[dict[str, Any]]:
        """Bot API calls seen by the emulator, optionally only ``method`` (comma-separated allowed)."""
        params: dict[str, Any] = {}
        if method:
            params["method"] = method
        if since is not None:
            params["since"] = since
        return (await self._call("GET", "/sandbox/calls", params=params))["calls"]

    async def reset(self) -> None:
        """Forget users, messages, files, payments, pending updates and the call log."""
        await self._call("POST", "/sandbox/reset")

    async def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings, e.g. ``configure(rate_limits=True, per_chat_burst=1)``."""
        return await self._call("POST", "/sandbox/config", json=settings)

    async def bot(self) -> dict[str, Any]:
        """The emulated bot's profile and webhook state."""
        return await self._call("GET", "/sandbox/bot")
