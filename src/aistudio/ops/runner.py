"""`aistudio run`: the bot in production.

Long polling (default) under the polling lock (`aistudio.ops.locks`): one instance polls, the others wait,
serving `/healthz` and `/readyz` meanwhile, and take over when it stops. Webhook mode when `WEBHOOK_BASE_URL`
is set: `setWebhook` with the secret and the update types the routers use (retried with backoff), every
instance takes updates (`aistudio.web.telegram_webhook`). Both run the generation worker.

SIGTERM or SIGINT starts a graceful stop: no new updates, the updates in flight finish, the generation
worker stops claiming and finishes the steps it is on, then pools and clients close (each wait bounded by
SHUTDOWN_TIMEOUT_SECONDS). A second signal cancels whatever is still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
import sys
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from aistudio.app import AppParts, SchemaNotAtHead, build_app, callback_secret, run_polling, serve_web
from aistudio.config import Settings
from aistudio.ops.locks import PollingLock, polling_lock
from aistudio.ops.logs import configure_logging, secrets_of
from aistudio.ops.version import build_info
from aistudio.web.telegram_webhook import WEBHOOK_PATH

log = logging.getLogger("aistudio.run")

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
HOUSEKEEPING_EVERY_S = 300.0


def check_run_settings(settings: Settings) -> list[str]:
    """What `aistudio run` needs beyond what `Settings` checks; one line per problem."""
    problems = []
    if settings.telegram_bot_token is None:
        problems.append("TELEGRAM_BOT_TOKEN: required to run the bot")
    if settings.webhook_base_url:
        if settings.webhook_secret is None:
            problems.append("WEBHOOK_SECRET: required when WEBHOOK_BASE_URL is set (webhook mode)")
        elif not _SECRET_TOKEN.match(settings.webhook_secret.get_secret_value()):
            problems.append("WEBHOOK_SECRET: 1-256 characters, only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
    return problems


def main(settings: Settings) -> int:
    """The process: logging first, the version as the first line, then serve until a signal."""
    configure_logging(
        fmt=settings.log_format, level=settings.log_level, secrets=secrets_of(settings, [callback_secret(settings)])
    )
    info = build_info()
    log.info("%s starting", info.describe(), extra={"event": "start", **info.as_dict()})
    problems = check_run_settings(settings)
    if problems:
        for problem in problems:
            log.error(problem)
        print("invalid configuration: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130


def _install_signals(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        if len(received) == 1:
            log.info("%s received: stopping gracefully", sig.name)
            stop.set()
        elif main_task is not None:
            log.warning("%s received again: stopping now", sig.name)
            main_task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)

    def remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

    return remove


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _build(settings: Settings, stop: asyncio.Event) -> AppParts | None:
    """Build the app; while the database is unreachable (it may be starting too), wait and retry."""
    delay = 1.0
    while not stop.is_set():
        try:
            return await build_app(settings)
        except SchemaNotAtHead:
            raise
        except (OSError, TimeoutError) as exc:
            reason = exc
        except Exception as exc:  # driver errors: refused, authentication pending, server starting up
            if "sqlalchemy" not in type(exc).__module__ and "asyncpg" not in type(exc).__module__:
                raise
            reason = exc
        log.warning("database unreachable at start-up (%r); retrying in %.0f s", reason, delay)
        await _pause(stop, delay)
        delay = min(30.0, delay * 2)
    return None


async def serve(settings: Settings, *, stop: asyncio.Event | None = None, signals: bool = True) -> int:
    """Run until `stop` is set (or a signal sets it); returns the exit code."""
    stop = stop or asyncio.Event()
    remove_signals = _install_signals(stop) if signals else (lambda: None)
    try:
        try:
            parts = await _build(settings, stop)
        except SchemaNotAtHead as exc:
            log.error("%s", exc)
            return 1
        if parts is None:
            return 0
        _freeze_startup_heap()
        return await _serve_parts(parts, stop)
    finally:
        remove_signals()


def _freeze_startup_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    aiogram's ~600 pydantic models, the catalog and the locales are a few hundred thousand objects that live
    as long as the process; without this every full collection walks them all again. `gc.freeze()` keeps them
    out of collections from here on (as CPython's docs suggest); garbage made later is collected as usual.
    """
    gc.collect()
    gc.freeze()


async def _serve_parts(parts: AppParts, stop: asyncio.Event) -> int:
    settings = parts.settings
    webhook_mode = bool(settings.webhook_base_url)
    parts.state.mode = "webhook" if webhook_mode else "polling"
    parts.state.role = "starting"
    web_runner = await serve_web(parts.web_app, settings.web_host, settings.web_port)
    log.info(
        "web server on %s:%s: /healthz /readyz /metrics%s",
        settings.web_host, settings.web_port, f" {WEBHOOK_PATH}" if webhook_mode else "",
    )  # fmt: skip
    housekeeping = asyncio.create_task(_housekeeping(parts, stop))
    try:
        if webhook_mode:
            await _run_webhook(parts, stop)
        else:
            lock = polling_lock(
                settings.database_url, settings.sqlite_path(), parts.bot.id,
                retry_s=settings.polling_lock_retry_seconds,
            )  # fmt: skip
            await run_polling_locked(parts, stop, lock)
    finally:
        parts.state.shutting_down = True
        housekeeping.cancel()
        await asyncio.gather(housekeeping, return_exceptions=True)
        await web_runner.cleanup()
        await parts.close()
        log.info("stopped")
    return 0


# ---- long polling ---------------------------------------------------------------------------------------


async def run_polling_locked(parts: AppParts, stop: asyncio.Event, lock: PollingLock) -> None:
    """Poll while holding `lock`; wait for it while another instance holds it; stop polling if it is lost."""
    timeout = parts.settings.shutdown_timeout_seconds
    while not stop.is_set():
        parts.state.role = "standby"
        if not await lock.acquire(stop):
            break
        parts.state.role = "active"
        parts.metrics.polling_lock_held.set(1)
        session = asyncio.Event()
        watcher = asyncio.create_task(_end_session_when(session, stop, lock.lost))
        try:
            await _drop_webhook(parts.bot)
            await run_polling(parts, session, once_only=True, drain_timeout=timeout)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            parts.metrics.polling_lock_held.set(0)
            await lock.release()
        if lock.lost.is_set() and not stop.is_set():
            log.warning("polling stopped: the polling lock was lost; taking it again before polling")


async def _end_session_when(session: asyncio.Event, *events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        session.set()


async def _drop_webhook(bot: Bot) -> None:
    """getUpdates refuses to work while a webhook is set (switching from webhook mode back to polling)."""
    try:
        info = await bot.get_webhook_info()
        if info.url:
            log.warning("a webhook is set (%s); removing it to poll", info.url)
            await bot.delete_webhook(drop_pending_updates=False)
    except Exception as exc:  # polling itself retries with backoff and logs what is wrong
        log.warning("could not check the webhook before polling: %r", exc)


# ---- webhook ---------------------------------------------------------------------------------------------


async def set_webhook(
    parts: AppParts, stop: asyncio.Event, *, first_delay: float = 1.0, max_delay: float = 60.0
) -> bool:
    """`setWebhook` with the secret and the update types in use, retried with backoff until it works."""
    settings = parts.settings
    assert settings.webhook_base_url and settings.webhook_secret
    url = settings.webhook_base_url + WEBHOOK_PATH
    allowed = parts.dispatcher.resolve_used_update_types()
    delay = first_delay
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            await parts.bot.set_webhook(
                url=url,
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=allowed,
                max_connections=settings.webhook_max_connections,
                drop_pending_updates=False,
            )
        except TelegramRetryAfter as exc:
            wait = float(exc.retry_after)
            log.warning("setWebhook: flood control, retrying in %.0f s", wait)
        except Exception as exc:
            wait = delay
            delay = min(max_delay, delay * 2)
            log.warning("setWebhook failed (attempt %d): %r; retrying in %.0f s", attempt, exc, wait)
        else:
            log.info("webhook set: %s (updates: %s)", url, ", ".join(allowed))
            return True
        await _pause(stop, wait)
    return False


async def _run_webhook(parts: AppParts, stop: asyncio.Event) -> None:
    assert parts.webhook is not None, "webhook mode needs WEBHOOK_SECRET"
    timeout = parts.settings.shutdown_timeout_seconds
    worker_stop = asyncio.Event()
    worker = asyncio.create_task(parts.generations.run(worker_stop))
    parts.start_jobs(worker_stop)
    registered = asyncio.create_task(set_webhook(parts, stop))
    registered.add_done_callback(lambda t: _activate(parts) if not t.cancelled() and t.result() else None)
    try:
        await stop.wait()
    finally:
        parts.state.shutting_down = True
        registered.cancel()
        await asyncio.gather(registered, return_exceptions=True)
        await parts.webhook.drain(timeout)
        worker_stop.set()
        await asyncio.gather(worker, return_exceptions=True)
        try:
            await asyncio.wait_for(parts.generations.drain(), timeout)
        except TimeoutError:
            log.warning("shutdown: generations still being driven after %.0f s; their leases expire", timeout)


def _activate(parts: AppParts) -> None:
    parts.state.role = "active"


# ---- housekeeping ----------------------------------------------------------------------------------------


async def _housekeeping(parts: AppParts, stop: asyncio.Event, every_s: float = HOUSEKEEPING_EVERY_S) -> None:
    """Now and then: forget old update records, release holds past their expiry."""
    while not stop.is_set():
        await _pause(stop, every_s)
        if stop.is_set():
            break
        try:
            pruned = await parts.updates.prune() if parts.updates is not None else 0
            released = await parts.services.ledger.expire_holds()
        except Exception as exc:
            log.warning("housekeeping failed: %r", exc)
            continue
        if pruned or released:
            log.info("housekeeping: %d update records forgotten, %d expired holds released", pruned, released)
