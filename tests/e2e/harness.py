"""The whole bot over real HTTP for end-to-end tests: Telegram emulator, Kie emulator, our web server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from aistudio.app import AppParts, build_app, run_polling
from aistudio.billing.accounts import Operator
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.config import load_settings
from aistudio.db.repo.users import upsert_user
from aistudio.sandbox.kie import EmulatorConfig as KieConfig
from aistudio.sandbox.kie import create_app as create_kie_app
from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from aistudio.sandbox.telegram.config import EmulatorConfig as TelegramConfig
from aistudio.sandbox.telegram.server import create_app as create_telegram_app

KIE_KEY = "e2e-key"


@dataclass
class Bot:
    """A running bot and handles to poke it from the outside."""

    parts: AppParts
    tg: SandboxTelegramClient
    telegram_url: str
    kie_url: str
    kie_app: web.Application
    users: dict[int, str] = field(default_factory=dict)

    async def user(self, user_id: int, *, lang: str = "ru", balance_rub: int = 0, name: str = "Anna") -> int:
        """A Telegram user (in the emulator); with a balance, also registered and funded in our database."""
        await self.tg.create_user(user_id, first_name=name, language_code=lang)
        if balance_rub:
            async with self.parts.engine.begin() as conn:
                await upsert_user(conn, user_id, first_name=name, language=lang)
            await self.parts.services.ledger.accounts.open_wallet(user_id)
            await self.parts.services.ledger.credit(
                f"e2e:{user_id}:{balance_rub}", user_id, balance_rub * 100, Operator.TOPUPS_MANUAL
            )
        return user_id

    async def available(self, user_id: int) -> int:
        return (await wallet_balance(self.parts.engine, user_id)).available

    async def books_balanced(self) -> bool:
        return (await check_invariants(self.parts.engine)).ok

    async def kie(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.request(method, f"{self.kie_url}{path}", json=body)
            response.raise_for_status()
            return response.json()


@contextlib.asynccontextmanager
async def running_bot(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Bot]:
    """Start everything; stop it all on exit."""
    telegram = TestServer(create_telegram_app(TelegramConfig(token=DEFAULT_TOKEN)), host="127.0.0.1")
    await telegram.start_server()
    kie_app = create_kie_app(KieConfig(api_key=KIE_KEY, time_scale=0.02, duration=5.0, seed=5))
    kie = TestServer(kie_app, host="127.0.0.1")
    await kie.start_server()
    telegram_url = str(telegram.make_url("")).rstrip("/")
    kie_url = str(kie.make_url("")).rstrip("/")
    config = {
        "database_url": database_url,
        "telegram_bot_token": DEFAULT_TOKEN,
        "telegram_api_base": telegram_url,
        "kie_api_key": KIE_KEY,
        "kie_api_base": kie_url,
        "kie_upload_base": kie_url,
        "redis_url": None,
        "webhook_base_url": None,
        "fx_source_url": "http://127.0.0.1:9/unreachable",  # the constant rate: prices are predictable
        "fx_fallback_rub_per_usd": Decimal(95),
        **settings,
    }
    web_server: TestServer | None = None
    parts = await build_app(load_settings(**config), callback_base_url=None, results_dir=tmp_path / "results")
    web_server = TestServer(parts.web_app, host="127.0.0.1")
    await web_server.start_server()
    # Kie calls the bot's web server back, as in production.
    parts.generations.pipeline.settings = _with_callbacks(parts, str(web_server.make_url("")).rstrip("/"))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_polling(parts, stop))
    tg = SandboxTelegramClient(telegram_url)
    try:
        yield Bot(parts, tg, telegram_url, kie_url, kie_app)
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=15)
        await tg.aclose()
        await parts.close()
        await web_server.close()
        await kie.close()
        await telegram.close()


def _with_callbacks(parts: AppParts, base_url: str) -> Any:
    from dataclasses import replace

    return replace(parts.generations.pipeline.settings, callback_base_url=base_url)
