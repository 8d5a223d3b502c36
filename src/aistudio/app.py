"""The composition root: settings → engine → services → bot → dispatcher → web app. Nothing else wires."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio import __version__
from aistudio.billing.ledger import Ledger
from aistudio.catalog.loader import Catalog, load_catalog
from aistudio.config import Settings
from aistudio.db.engine import create_engine
from aistudio.db.migrate import is_at_head
from aistudio.db.rawsql import RawDb
from aistudio.generation.context import Pipeline, PipelineSettings
from aistudio.generation.delivery import ResultStore
from aistudio.generation.service import GenerationService
from aistudio.i18n import translator
from aistudio.kie import KieClient, KieGateway, make_limiter
from aistudio.pricing.free_tier import FreeLimits, FreeTier, derive_free_models
from aistudio.pricing.fx import FxService
from aistudio.telegram.alerts import AdminAlerts
from aistudio.telegram.bot import create_bot
from aistudio.telegram.commands import set_bot_commands
from aistudio.telegram.delivery_notices import AppDelivery
from aistudio.telegram.dispatcher import create_dispatcher
from aistudio.telegram.services import BotServices
from aistudio.web.kie_callbacks import add_kie_callback_route

log = logging.getLogger(__name__)


@dataclass
class AppParts:
    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    bot: Bot
    dispatcher: Dispatcher
    services: BotServices
    generations: GenerationService
    kie: KieClient
    web_app: web.Application
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.kie.aclose()
        await self.bot.session.close()
        await self.engine.dispose()


def callback_secret(settings: Settings) -> str:
    """Signs our Kie callback URLs; the same on every replica without another setting to manage."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else "aistudio"
    return hashlib.sha256(f"kie-callback:{token}".encode()).hexdigest()


def startup_checks(settings: Settings, catalog: Catalog) -> frozenset[str]:
    """Log what start-up decided (version, catalog size, the derived FREE tier); return the free model ids."""
    free = derive_free_models(catalog, settings.free_tier_size)
    log.info(
        "AI Studio %s: %d models (%d enabled), database %s",
        __version__, len(catalog), len(catalog.visible()), "postgresql" if settings.is_postgres else "sqlite",
    )  # fmt: skip
    log.info("free tier (%d cheapest enabled models): %s", len(free), ", ".join(m.id for m in free))
    return frozenset(m.id for m in free)


async def build_app(
    settings: Settings, *, callback_base_url: str | None = None, results_dir: Path | None = None
) -> AppParts:
    """Build every part. `callback_base_url` overrides the public URL Kie calls back (the sandbox's)."""
    catalog = load_catalog()
    free_ids = startup_checks(settings, catalog)
    engine = create_engine(settings.database_url)
    if not await is_at_head(engine):
        raise RuntimeError("the database schema is not at the newest revision: run `aistudio migrate`")
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    t = translator()
    bot = create_bot(settings)
    kie = KieClient(
        settings.kie_api_key.get_secret_value() if settings.kie_api_key else "",
        base_url=settings.kie_api_base,
        upload_base_url=settings.kie_upload_base,
    )
    fx = FxService(engine, source_url=settings.fx_source_url, fallback=settings.fx_fallback_rub_per_usd)
    public = callback_base_url or settings.webhook_base_url
    pipeline = Pipeline(
        db=RawDb(engine),
        ledger=ledger,
        catalog=catalog,
        gateway=KieGateway(kie),
        limiter=make_limiter(settings.kie_tasks_per_10s, 10.0, redis_url=settings.redis_url),
        free_tier=FreeTier(
            FreeLimits(
                settings.free_per_model_per_day, settings.free_per_model_per_hour, settings.free_daily_credit_cap
            )
        ),
        delivery=AppDelivery(bot, engine, catalog, t),
        alerts=AdminAlerts(bot, settings.admin_ids),
        store=ResultStore(results_dir or Path("var") / "results"),
        settings=PipelineSettings(
            callback_base_url=public,
            callback_secret=callback_secret(settings),
            kie_hmac_key=settings.kie_callback_hmac_key.get_secret_value() if settings.kie_callback_hmac_key else None,
            max_concurrent_per_user=settings.max_concurrent_generations,
            usd_per_credit=settings.usd_per_credit,
            markup=settings.markup,
        ),
        free_model_ids=free_ids,
    )
    generations = GenerationService(pipeline, fx.current)
    services = BotServices(
        settings=settings, engine=engine, ledger=ledger, catalog=catalog, generations=generations, fx=fx, t=t,
        free_model_ids=free_ids, kie=kie,
    )  # fmt: skip
    dispatcher = create_dispatcher(services)
    web_app = web.Application()
    add_kie_callback_route(web_app, lambda: generations)
    web_app.router.add_get("/healthz", _healthz)
    return AppParts(settings, engine, catalog, bot, dispatcher, services, generations, kie, web_app)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def serve_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_polling(parts: AppParts, stop: asyncio.Event) -> None:
    """Long polling plus the generation worker, until `stop` is set."""
    await set_bot_commands(parts.bot, parts.services.t)
    worker = asyncio.create_task(parts.generations.run(stop))
    polling = asyncio.create_task(
        parts.dispatcher.start_polling(parts.bot, handle_signals=False, close_bot_session=False)
    )
    await stop.wait()
    with contextlib.suppress(RuntimeError):
        await parts.dispatcher.stop_polling()
    await asyncio.gather(polling, worker, return_exceptions=True)
    await parts.generations.drain()
