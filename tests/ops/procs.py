"""`aistudio run` as a real process: start it, watch its logs and endpoints, stop it with a signal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
KIE_KEY = "ops-kie-key-0123456789"
# Start-up imports aiogram (seconds of pydantic schema building); on a busy machine it takes a while.
START_TIMEOUT = 90.0


@dataclass
class Emulator:
    url: str
    tg: SandboxTelegramClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(database_url: str, telegram_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "KIE_", "TELEGRAM_", "REDIS_"))}
    env.update(
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN,
        TELEGRAM_API_BASE=telegram_url,
        KIE_API_KEY=KIE_KEY,
        KIE_API_BASE="http://127.0.0.1:9",  # nothing listens: no generation is launched in these tests
        KIE_UPLOAD_BASE="http://127.0.0.1:9",
        FX_SOURCE_URL="http://127.0.0.1:9/fx",
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(port),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        POLLING_LOCK_RETRY_SECONDS="0.2",
        SHUTDOWN_TIMEOUT_SECONDS="10",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class BotProcess:
    """One `aistudio run`; its stdout and stderr go to `log_path` (JSON lines)."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.port = int(env["WEB_PORT"])
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aistudio.cli", "run", cwd=ROOT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (anything else the process printed is kept as {"raw": ...})."""
        if not self.log_path.exists():
            return []
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"raw": raw})
        return out

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def get(self, path: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                return await http.get(self.base + path)
        except httpx.HTTPError:
            return None

    async def wait_ready(self, *, role: str | None = None, within: float = START_TIMEOUT) -> dict[str, Any]:
        """Wait until `/readyz` answers 200 (and reports `role`, when given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.text()[-3000:]}")
            response = await self.get("/readyz")
            if response is not None and response.status_code == 200:
                body = response.json()
                if role is None or body.get("role") == role:
                    return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready (role {role}) in {within} s:\n{self.text()[-3000:]}")

    async def wait_log(self, needle: str, *, within: float = 30.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            for line in self.lines():
                if needle in line.get("msg", line.get("raw", "")):
                    return line
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never logged {needle!r}:\n{self.text()[-3000:]}")

    async def stop(self, sig: int = signal.SIGTERM, *, within: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), within)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
