"""`aistudio demo`: the real bot in a local sandbox — emulated Telegram (with the web chat) and emulated Kie.

Everything runs in one process on 127.0.0.1: the Telegram emulator and web chat on `port` (8080), the Kie
emulator and the bot's own web server (for Kie callbacks) on free ports. No tokens, no network, no spend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from decimal import Decimal
from pathlib import Path

import httpx
from aiohttp import web

from aistudio.app import AppParts, build_app, run_polling, serve_web
from aistudio.billing.accounts import Operator
from aistudio.config import Settings, load_settings
from aistudio.db.migrate import upgrade_to_head_async
from aistudio.db.repo.users import upsert_user
from aistudio.sandbox.kie import EmulatorConfig as KieConfig
from aistudio.sandbox.kie import create_app as create_kie_app
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from aistudio.sandbox.telegram.config import EmulatorConfig as TelegramConfig
from aistudio.sandbox.telegram.server import create_app as create_telegram_app

log = logging.getLogger(__name__)

DEMO_USER_ID = 1001
DEMO_BALANCE_RUB = Decimal(500)
KIE_KEY = "sandbox-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(port: int, kie_port: int, directory: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'aistudio.sqlite3'}",
        telegram_bot_token=DEFAULT_TOKEN,
        telegram_api_base=f"http://127.0.0.1:{port}",
        kie_api_key=KIE_KEY,
        kie_api_base=f"http://127.0.0.1:{kie_port}",
        kie_upload_base=f"http://127.0.0.1:{kie_port}",
        admin_ids=(DEMO_USER_ID,),
        start_bonus_rub=Decimal(100),
        redis_url=None,
        webhook_base_url=None,
    )


async def _seed_demo_user(parts: AppParts, telegram_url: str) -> None:
    """A ready-made user in the web chat, with a demo balance (credited once, by key)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{telegram_url}/sandbox/users",
            json={"id": DEMO_USER_ID, "first_name": "Demo", "username": "demo_user", "language_code": "ru"},
        )
        response.raise_for_status()
    async with parts.engine.begin() as conn:
        await upsert_user(conn, DEMO_USER_ID, username="demo_user", first_name="Demo", language="ru")
    await parts.services.ledger.accounts.open_wallet(DEMO_USER_ID)
    await parts.services.ledger.credit(
        f"demo:balance:{DEMO_USER_ID}", DEMO_USER_ID, int(DEMO_BALANCE_RUB * 100), Operator.BONUS, reason="demo"
    )


async def run_demo(port: int = 8080, *, directory: Path = Path("var/demo"), time_scale: float = 0.3) -> None:
    """Run until SIGINT/SIGTERM; prints the one line to open."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    kie_port = free_port()
    settings = demo_settings(port, kie_port, directory)
    await upgrade_to_head_async(settings.database_url)

    runners: list[web.AppRunner] = []
    runners.append(await serve_web(create_telegram_app(TelegramConfig(token=DEFAULT_TOKEN)), "127.0.0.1", port))
    kie_app = create_kie_app(KieConfig(api_key=KIE_KEY, time_scale=time_scale, duration=10.0, seed=None))
    runners.append(await serve_web(kie_app, "127.0.0.1", kie_port))
    web_port = free_port()
    parts = await build_app(
        settings, callback_base_url=f"http://127.0.0.1:{web_port}", results_dir=directory / "results"
    )
    runners.append(await serve_web(parts.web_app, "127.0.0.1", web_port))
    await _seed_demo_user(parts, settings.telegram_api_base)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"AI Studio sandbox is running: open http://127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
    try:
        await run_polling(parts, stop)
    finally:
        await parts.close()
        for runner in reversed(runners):
            await runner.cleanup()
