"""Prometheus metrics, counted at the edges of the application.

- updates: an aiogram outer middleware (`aistudio.ops.middleware`) counts each update by type, handler and
  outcome and times it;
- Kie: a transport wrapper and a response hook on the Kie client's httpx client time every request and
  count HTTP statuses and Kie's own answer codes;
- generations: a wrapper around the delivery port counts final states by model (the process that delivers
  or fails a generation counts it, so N replicas never count one generation twice);
- ledger: a `Ledger` subclass counts operations by kind and outcome;
- free-tier spend today and the Kie credit balance are read when `/metrics` is scraped (cached).

Each app has its own registry, so tests can build many apps in one process.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from aistudio.billing.errors import LedgerError
from aistudio.billing.ledger import Ledger, TransferResult
from aistudio.generation.delivery import DeliveryPort, Failure, ResultFile
from aistudio.generation.repo import Generation
from aistudio.ops.logs import generation_context
from aistudio.ops.version import BuildInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
KIE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every metric of one app, in its own registry."""

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = registry = CollectorRegistry()
        if process_metrics:
            process_collector.ProcessCollector(registry=registry)
            platform_collector.PlatformCollector(registry=registry)
            gc_collector.GCCollector(registry=registry)
        self.build = Gauge(
            "aistudio_build_info", "The running build (always 1).", ["version", "commit", "build_date"],
            registry=registry,
        )  # fmt: skip
        self.updates = Counter(
            "aistudio_updates", "Telegram updates handled, by type, handler and outcome (ok, error, unhandled).",
            ["type", "handler", "outcome"], registry=registry,
        )  # fmt: skip
        self.update_seconds = Histogram(
            "aistudio_update_handling_seconds", "Time to handle one update, middlewares included.",
            ["type", "handler"], buckets=HANDLER_BUCKETS, registry=registry,
        )  # fmt: skip
        self.duplicate_updates = Counter(
            "aistudio_duplicate_updates", "Updates delivered again and ignored (already recorded).", ["mode"],
            registry=registry,
        )  # fmt: skip
        self.generations = Counter(
            "aistudio_generations", "Generations that reached a final state, by model, state and error class.",
            ["model", "state", "error_class"], registry=registry,
        )  # fmt: skip
        self.generation_seconds = Histogram(
            "aistudio_generation_seconds", "From launch to the result delivered, by model.", ["model"],
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600), registry=registry,
        )  # fmt: skip
        self.kie_requests = Counter(
            "aistudio_kie_requests", "HTTP requests to Kie, by endpoint and HTTP status (or network_error).",
            ["endpoint", "status"], registry=registry,
        )  # fmt: skip
        self.kie_codes = Counter(
            "aistudio_kie_answer_codes", "Kie's answer codes (the JSON envelope's `code`), by endpoint.",
            ["endpoint", "code"], registry=registry,
        )  # fmt: skip
        self.kie_seconds = Histogram(
            "aistudio_kie_request_seconds", "Kie request latency until the answer's headers, by endpoint.",
            ["endpoint"], buckets=KIE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.ledger_ops = Counter(
            "aistudio_ledger_operations", "Ledger calls by kind and outcome (ok, duplicate, or the refusal).",
            ["kind", "outcome"], registry=registry,
        )  # fmt: skip
        self.ledger_kopecks = Counter(
            "aistudio_ledger_kopecks", "Kopecks moved by new (not duplicate) ledger operations, by kind.", ["kind"],
            registry=registry,
        )  # fmt: skip
        self.free_credits_today = Gauge(
            "aistudio_free_tier_credits_today", "Kie credits reserved or used by free generations since 00:00 UTC.",
            registry=registry,
        )  # fmt: skip
        self.free_credits_cap = Gauge(
            "aistudio_free_tier_daily_cap_credits", "The daily cap on free-tier Kie credits.", registry=registry
        )
        self.kie_balance = Gauge(
            "aistudio_kie_credit_balance", "Credits left on the operator's Kie account (last successful read).",
            registry=registry,
        )  # fmt: skip
        self.kie_balance_age = Gauge(
            "aistudio_kie_credit_balance_age_seconds", "Seconds since the Kie balance was last read.",
            registry=registry,
        )  # fmt: skip
        self.kie_balance.set(float("nan"))  # unknown until read: an alert on "low" must not fire on 0
        self.kie_balance_age.set(float("nan"))
        self.webhook_inflight = Gauge(
            "aistudio_webhook_inflight", "Webhook updates being handled now.", registry=registry
        )
        self.polling_lock_held = Gauge(
            "aistudio_polling_lock_held", "1 while this instance holds the polling lock.", registry=registry
        )

    def set_build(self, info: BuildInfo) -> None:
        self.build.labels(info.version, info.commit, info.build_date).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# ---- Kie client ----------------------------------------------------------------------------------------

_ID_SEGMENT = re.compile(r"^(?=.*\d)[\w-]{16,}$|^\d+$")


def kie_endpoint(url: httpx.URL, api_hosts: frozenset[str]) -> str:
    """A bounded label: the API path on Kie's hosts (ids replaced), `download` for any other host."""
    if url.netloc.decode() not in api_hosts:
        return "download"
    segments = [":id" if _ID_SEGMENT.match(s) else s for s in url.path.split("/")]
    return "/".join(segments) or "/"


class _MeteredTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: Metrics, api_hosts: frozenset[str]) -> None:
        self._inner = inner
        self._metrics = metrics
        self._hosts = api_hosts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = kie_endpoint(request.url, self._hosts)
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            self._metrics.kie_seconds.labels(endpoint).observe(time.perf_counter() - started)
            self._metrics.kie_requests.labels(endpoint, "network_error").inc()
            raise
        self._metrics.kie_seconds.labels(endpoint).observe(time.perf_counter() - started)
        self._metrics.kie_requests.labels(endpoint, str(response.status_code)).inc()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def instrument_kie(http: httpx.AsyncClient, metrics: Metrics, base_urls: list[str]) -> None:
    """Meter the Kie client's httpx client: latency and statuses in its transport, answer codes in a hook."""
    hosts = frozenset(urlsplit(u).netloc for u in base_urls if u)
    http._transport = _MeteredTransport(http._transport, metrics, hosts)

    async def on_response(response: httpx.Response) -> None:
        url = response.request.url
        if url.netloc.decode() not in hosts or not url.path.startswith("/api/"):
            return  # result files and uploads' bodies are not envelopes worth reading here
        if "json" not in response.headers.get("content-type", ""):
            return
        await response.aread()
        try:
            code = response.json().get("code")
        except (ValueError, AttributeError):
            code = None
        metrics.kie_codes.labels(kie_endpoint(url, hosts), str(code) if code is not None else "none").inc()

    http.event_hooks["response"].append(on_response)


# ---- generations ---------------------------------------------------------------------------------------


class MeteredDelivery:
    """The delivery port, counting final states and putting the generation's ids on its log lines."""

    def __init__(self, inner: DeliveryPort, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.metrics = metrics
        self._clock = clock

    def __getattr__(self, name: str) -> Any:  # anything else the Telegram delivery offers
        return getattr(self.inner, name)

    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        with generation_context(gen.id, gen.request_id, gen.user_id):
            sent = await self.inner.deliver(gen, files)
            elapsed = max(0.0, self._clock() - gen.created_at.timestamp()) if gen.created_at else None
            log.info(
                "generation delivered: %s, %d file(s), %s s after launch",
                gen.model_id, len(files), f"{elapsed:.1f}" if elapsed is not None else "?",
                extra={"model": gen.model_id, "state": "completed"},
            )  # fmt: skip
        self.metrics.generations.labels(gen.model_id, "completed", "").inc()
        if elapsed is not None:
            self.metrics.generation_seconds.labels(gen.model_id).observe(elapsed)
        return sent

    async def fail(self, gen: Generation, failure: Failure) -> None:
        self.metrics.generations.labels(gen.model_id, "failed", str(failure.error_class)).inc()
        with generation_context(gen.id, gen.request_id, gen.user_id):
            log.info(
                "generation failed: %s, %s, %d kopecks returned",
                gen.model_id, failure.error_class, failure.refunded_kopecks,
                extra={"model": gen.model_id, "state": "failed", "error_class": str(failure.error_class)},
            )  # fmt: skip
            await self.inner.fail(gen, failure)

    async def progress(self, gen: Generation, state: str) -> None:
        with generation_context(gen.id, gen.request_id, gen.user_id):
            await self.inner.progress(gen, state)

    async def unconfirmed(self, gen: Generation) -> None:
        self.metrics.generations.labels(gen.model_id, "completed", "unconfirmed").inc()
        with generation_context(gen.id, gen.request_id, gen.user_id):
            await self.inner.unconfirmed(gen)


# ---- ledger --------------------------------------------------------------------------------------------


class MeteredLedger(Ledger):
    """The ledger, counting each operation's outcome. Behaviour is the parent's, unchanged."""

    def __init__(self, engine: Any, *, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.metrics = metrics

    async def _count(self, kind: str, call: Awaitable[TransferResult]) -> TransferResult:
        if self.metrics is None:
            return await call
        try:
            result = await call
        except LedgerError as exc:
            self.metrics.ledger_ops.labels(kind, type(exc).__name__).inc()
            raise
        self.metrics.ledger_ops.labels(kind, "duplicate" if result.duplicate else "ok").inc()
        if not result.duplicate:
            self.metrics.ledger_kopecks.labels(kind).inc(result.amount)
        return result

    async def hold(self, key: str, user_id: int, amount: int, **kwargs: Any) -> TransferResult:
        return await self._count("hold", super().hold(key, user_id, amount, **kwargs))

    async def capture(self, key: str, hold_key: str, amount: int | None = None, **kwargs: Any) -> TransferResult:
        return await self._count("capture", super().capture(key, hold_key, amount, **kwargs))

    async def release(self, key: str, hold_key: str, **kwargs: Any) -> TransferResult:
        return await self._count("release", super().release(key, hold_key, **kwargs))

    async def credit(self, key: str, user_id: int, amount: int, source: Any, **kwargs: Any) -> TransferResult:
        return await self._count("credit", super().credit(key, user_id, amount, source, **kwargs))

    async def debit(self, key: str, user_id: int, amount: int, sink: Any, **kwargs: Any) -> TransferResult:
        return await self._count("debit", super().debit(key, user_id, amount, sink, **kwargs))

    async def adjust(self, key: str, user_id: int, delta: int, **kwargs: Any) -> TransferResult:
        return await self._count("adjust", super().adjust(key, user_id, delta, **kwargs))


# ---- values read at scrape time ------------------------------------------------------------------------


class ScrapeRefresher:
    """Refreshes the gauges that come from the database and from Kie when `/metrics` is scraped.

    The free-tier spend is read at most every `db_every` seconds; the Kie balance at most every `kie_every`
    seconds, in the background (a scrape never waits for Kie), keeping the last good value.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        free_spent: Callable[[], Awaitable[Decimal]],
        kie_balance: Callable[[], Awaitable[Decimal]] | None,
        db_every: float = 10.0,
        kie_every: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self._free_spent = free_spent
        self._kie_balance = kie_balance
        self._db_every = db_every
        self._kie_every = kie_every
        self._clock = clock
        self._db_at: float | None = None
        self._kie_tried_at: float | None = None
        self._kie_ok_at: float | None = None
        self._kie_task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        now = self._clock()
        if self._db_at is None or now - self._db_at >= self._db_every:
            try:
                spent = await asyncio.wait_for(self._free_spent(), timeout=2.0)
            except Exception as exc:  # the database is down: /readyz says so; keep the last value here
                log.info("metrics: free-tier spend not read: %r", exc)
            else:
                self.metrics.free_credits_today.set(float(spent))
                self._db_at = now
        if self._kie_balance is not None:
            due = self._kie_tried_at is None or now - self._kie_tried_at >= self._kie_every
            if due and (self._kie_task is None or self._kie_task.done()):
                self._kie_tried_at = now
                self._kie_task = asyncio.create_task(self._read_kie(now))
            if self._kie_ok_at is not None:
                self.metrics.kie_balance_age.set(now - self._kie_ok_at)

    async def _read_kie(self, started: float) -> None:
        assert self._kie_balance is not None
        try:
            balance = await self._kie_balance()
        except Exception as exc:  # tried again after the interval, not on every scrape
            log.info("metrics: Kie balance not read: %r", exc)
            return
        self.metrics.kie_balance.set(float(balance))
        self._kie_ok_at = started

    async def wait_background(self) -> None:
        if self._kie_task is not None:
            await asyncio.gather(self._kie_task, return_exceptions=True)

    async def aclose(self) -> None:
        if self._kie_task is not None and not self._kie_task.done():
            self._kie_task.cancel()
            await asyncio.gather(self._kie_task, return_exceptions=True)
