"""The composition root: settings → engine → services → bot → dispatcher → web app. Nothing else wires.

Run modes (long polling under a lock, webhook) and the shutdown sequence live in `aistudio.ops.runner`;
the demo and the end-to-end tests drive `build_app` + `run_polling` themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio import __version__
from aistudio.admin.overrides import LiveCatalog, ModelOverrides
from aistudio.admin.stats import warm_rollups
from aistudio.catalog.loader import Catalog, load_catalog
from aistudio.config import Settings
from aistudio.db.engine import create_engine
from aistudio.db.migrate import current_revision, head_revision
from aistudio.db.rawsql import RawDb
from aistudio.generation.context import Pipeline, PipelineSettings
from aistudio.generation.delivery import ResultStore
from aistudio.generation.service import GenerationService
from aistudio.growth.promo import PromoCodes
from aistudio.growth.referrals import Referrals
from aistudio.i18n import translator
from aistudio.kie import KieClient, KieGateway, make_limiter
from aistudio.ops.jobs import PeriodicJob, start_jobs
from aistudio.ops.metrics import MeteredDelivery, MeteredLedger, Metrics, ScrapeRefresher, instrument_kie
from aistudio.ops.middleware import GATE_KEY, METRICS_KEY
from aistudio.ops.monitoring import Monitor, monitoring_jobs
from aistudio.ops.state import RunState
from aistudio.ops.updates import ProcessedUpdates
from aistudio.ops.version import build_info
from aistudio.payments.manual import ManualTopups
from aistudio.payments.spool import PaymentSpool
from aistudio.payments.topups import TopupService
from aistudio.pricing.free_tier import FreeLimits, FreeTier, derive_free_models
from aistudio.pricing.fx import FxService
from aistudio.telegram.alerts import AdminAlerts
from aistudio.telegram.bot import create_bot
from aistudio.telegram.broadcast_delivery import broadcast_job
from aistudio.telegram.commands import set_bot_commands
from aistudio.telegram.delivery_notices import AppDelivery
from aistudio.telegram.dispatcher import create_dispatcher
from aistudio.telegram.handlers.referrals import reward_notifier
from aistudio.telegram.payment_spool import install_payment_spool, spool_job
from aistudio.telegram.services import BotServices
from aistudio.web.admin import add_admin_routes
from aistudio.web.health import Readiness, add_health_routes
from aistudio.web.kie_callbacks import add_kie_callback_route
from aistudio.web.telegram_webhook import WebhookIntake, add_webhook_route

log = logging.getLogger(__name__)


class SchemaNotAtHead(RuntimeError):
    """The database needs `aistudio migrate` before this version can run."""


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
    metrics: Metrics = field(default_factory=Metrics)
    state: RunState = field(default_factory=RunState)
    updates: ProcessedUpdates | None = None
    webhook: WebhookIntake | None = None  # set when WEBHOOK_BASE_URL and WEBHOOK_SECRET are
    refresher: ScrapeRefresher | None = None
    jobs: list[PeriodicJob] = field(default_factory=list)  # started by run_polling / webhook mode

    def start_jobs(self, stop: asyncio.Event) -> None:
        self.background.extend(start_jobs(self.jobs, stop))

    async def close(self) -> None:
        """Close every pool and client (after the work is stopped; see `aistudio.ops.runner`)."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.refresher is not None:
            await self.refresher.aclose()
        await self.kie.aclose()
        await self.bot.session.close()
        with contextlib.suppress(Exception):
            await self.dispatcher.storage.close()
        with contextlib.suppress(Exception):
            await self.generations.pipeline.limiter.close()
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
    shipped = load_catalog()
    free_ids = startup_checks(settings, shipped)
    engine = create_engine(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    head = head_revision(settings.database_url)
    try:
        at_head = await current_revision(engine) == head
    except BaseException:
        await engine.dispose()
        raise
    if not at_head:
        await engine.dispose()
        raise SchemaNotAtHead("the database schema is not at the newest revision: run `aistudio migrate`")
    # The admin's per-model switches (enabled, markup) over the shipped catalog, refreshed on every replica.
    overrides = ModelOverrides(engine)
    await overrides.refresh()
    catalog = LiveCatalog(shipped, overrides)
    info = build_info()
    metrics = Metrics()
    metrics.set_build(info)
    ledger = MeteredLedger(engine, metrics=metrics, hold_ttl=timedelta(seconds=settings.hold_ttl_seconds))
    await ledger.accounts.ensure_operator_accounts()
    t = translator()
    bot = create_bot(settings)
    kie = KieClient(
        settings.kie_api_key.get_secret_value() if settings.kie_api_key else "",
        base_url=settings.kie_api_base,
        upload_base_url=settings.kie_upload_base,
    )
    instrument_kie(kie._http, metrics, [settings.kie_api_base, settings.kie_upload_base])
    fx = FxService(engine, source_url=settings.fx_source_url, fallback=settings.fx_fallback_rub_per_usd)
    public = callback_base_url or settings.webhook_base_url
    alerts = AdminAlerts(bot, settings.admin_ids, engine=engine, t=t)  # de-duplicated through alert_state
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
        delivery=MeteredDelivery(AppDelivery(bot, engine, catalog, t), metrics),
        alerts=alerts,
        store=ResultStore(results_dir or Path("var") / "results"),
        settings=PipelineSettings(
            callback_base_url=public,
            callback_secret=callback_secret(settings),
            kie_hmac_key=settings.kie_callback_hmac_key.get_secret_value() if settings.kie_callback_hmac_key else None,
            max_concurrent_per_user=settings.max_concurrent_generations,
            lease_seconds=settings.generation_lease_seconds,
            usd_per_credit=settings.usd_per_credit,
            markup=settings.markup,
        ),
        free_model_ids=free_ids,
        markup_for=overrides.markup_for,
    )
    generations = GenerationService(pipeline, fx.current)
    topups = TopupService(engine, ledger)
    # After each paid top-up, once per payment (aistudio.growth): a promo percentage bonus, the referrer's reward.
    topups.add_hook(PromoCodes(engine, ledger).apply_topup_bonus)
    referral_program = Referrals(engine, ledger, settings.referral_percent, notify=reward_notifier(bot, engine, t))
    topups.add_hook(referral_program.reward_topup)
    services = BotServices(
        settings=settings, engine=engine, ledger=ledger, catalog=catalog, generations=generations, fx=fx, t=t,
        free_model_ids=free_ids, kie=kie, topups=topups, bot=bot, overrides=overrides,
    )  # fmt: skip
    jobs = [PeriodicJob("topups.settle", 30.0, topups.settle, first_delay_s=5.0)]
    # Approved manual transfers a crash left uncredited (aistudio.payments.manual).
    jobs.append(PeriodicJob("manual.settle", 60.0, ManualTopups(engine, topups).settle, first_delay_s=10.0))
    # Fixed promo codes redeemed but not credited: a crash between the two (aistudio.growth.promo).
    jobs.append(PeriodicJob("promo.settle", 60.0, PromoCodes(engine, ledger).settle_credits, first_delay_s=15.0))
    jobs.append(broadcast_job(settings, engine, bot, t))  # sends running broadcasts (one replica each)
    monitor = Monitor(
        engine, alerts, kie_balance=kie.credit_balance if settings.kie_api_key else None,
        low_credits=settings.kie_balance_alert_credits, failure_rate=settings.failure_alert_rate,
        failure_min_count=settings.failure_alert_min_count, metrics=metrics,
    )  # fmt: skip
    jobs += monitoring_jobs(monitor, balance_every_s=settings.kie_balance_poll_seconds)
    jobs.append(PeriodicJob("admin.model_overrides", 3.0, overrides.refresh, first_delay_s=3.0))
    # The dashboard's closed-day rollups, built here rather than by the first page view after a deploy.
    jobs.append(PeriodicJob("admin.stats_rollups", 600.0, lambda: warm_rollups(engine), first_delay_s=60.0))
    dispatcher = create_dispatcher(services)
    # Payment updates are spooled to disk before anything else touches them, and replayed until recorded.
    spool = PaymentSpool((results_dir.parent if results_dir is not None else Path("var")) / "spool" / "payments")
    install_payment_spool(dispatcher, services, spool)
    jobs.append(spool_job(services, spool))
    dispatcher[METRICS_KEY] = metrics

    state = RunState()
    services.run_state = state
    raw = RawDb(engine)

    async def free_spent() -> Decimal:
        async with raw.reading() as tx:
            return await pipeline.free_tier.spent_today(tx)

    refresher = ScrapeRefresher(
        metrics, free_spent=free_spent, kie_balance=kie.credit_balance if settings.kie_api_key else None
    )
    metrics.free_credits_cap.set(float(settings.free_daily_credit_cap))
    web_app = web.Application()
    add_kie_callback_route(web_app, lambda: generations)
    add_admin_routes(web_app, services)
    add_health_routes(
        web_app,
        build=info,
        readiness=Readiness(engine, catalog, head, state),
        metrics=metrics,
        refresh=refresher.refresh,
        metrics_token=settings.metrics_token.get_secret_value() if settings.metrics_token else None,
    )
    updates = ProcessedUpdates(raw)
    webhook = None
    if settings.webhook_base_url and settings.webhook_secret:
        webhook = WebhookIntake(dispatcher, bot, updates, settings.webhook_secret.get_secret_value(), metrics)
        add_webhook_route(web_app, webhook)
    return AppParts(
        settings, engine, catalog, bot, dispatcher, services, generations, kie, web_app,
        metrics=metrics, state=state, updates=updates, webhook=webhook, refresher=refresher, jobs=jobs,
    )  # fmt: skip


async def serve_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_polling(
    parts: AppParts, stop: asyncio.Event, *, once_only: bool = False, drain_timeout: float | None = None
) -> None:
    """Long polling plus the generation worker, until `stop` is set; then a graceful stop.

    `once_only` records each update before handling it (`aistudio run`: a takeover re-reads the batch its
    predecessor had not confirmed). Stopping: no new updates, the updates being handled finish, the worker
    stops claiming and the generations it drives finish (each wait bounded by `drain_timeout`).
    """
    await set_bot_commands(parts.bot, parts.services.t)
    parts.start_jobs(stop)
    worker = asyncio.create_task(parts.generations.run(stop))
    extra = {GATE_KEY: parts.updates} if once_only and parts.updates is not None else {}
    polling = asyncio.create_task(
        parts.dispatcher.start_polling(parts.bot, handle_signals=False, close_bot_session=False, **extra)
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([polling, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if polling.done() and not stop.is_set():
        log.error("polling ended on its own: %r", polling.exception() if not polling.cancelled() else "cancelled")
    with contextlib.suppress(RuntimeError):
        await parts.dispatcher.stop_polling()
    await _wait_all(parts.dispatcher._handle_update_tasks, drain_timeout, "updates being handled")
    stop.set()
    await asyncio.gather(polling, worker, return_exceptions=True)
    await _wait_for(parts.generations.drain(), drain_timeout, "generations being driven")


async def _wait_all(tasks: set[asyncio.Task[Any]], limit_s: float | None, what: str) -> None:
    if tasks:
        _, pending = await asyncio.wait(list(tasks), timeout=limit_s)
        if pending:
            log.warning("shutdown: %d %s did not finish in %.0f s", len(pending), what, limit_s or 0)


async def _wait_for(work: Any, limit_s: float | None, what: str) -> None:
    try:
        await asyncio.wait_for(work, limit_s)
    except TimeoutError:
        log.warning("shutdown: %s did not finish in %.0f s; their leases let another process resume", what, limit_s)
