"""Everything the generation pipeline's parts share: collaborators, settings and small helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from aistudio.billing.ledger import Ledger
from aistudio.catalog.loader import Catalog
from aistudio.db.rawsql import RawDb
from aistudio.db.sql import utcnow
from aistudio.generation.delivery import AlertPort, DeliveryPort, ResultStore
from aistudio.generation.repo import GenerationRepo
from aistudio.kie.families import KieGateway
from aistudio.kie.limiter import TaskLimiter
from aistudio.pricing.free_tier import FreeTier


@dataclass(frozen=True)
class PipelineSettings:
    callback_base_url: str | None = None  # set → Kie calls us back; unset → we poll
    callback_secret: str = "change-me"  # signs our callback URLs (generation id)
    kie_hmac_key: str | None = None  # verifies Kie's own callback signature when set
    max_concurrent_per_user: int = 2
    usd_per_credit: Decimal = Decimal("0.005")
    markup: Decimal = Decimal("2.0")
    submit_attempts: int = 5  # definite refusals (429/455/5xx) retried this many times
    lease_seconds: float = 120.0
    max_download_bytes: int = 500 * 1024 * 1024
    delivery_attempts: int = 3
    # With callbacks, one poll after max(this, factor × the model's typical time) in case a callback is lost.
    callback_safety_poll_s: float = 60.0
    callback_safety_factor: float = 3.0
    poll_min_s: float = 3.0
    poll_max_s: float = 30.0
    # createTask requests in flight at once per process. Kie's own limit (20 per 10 s) keeps this far from
    # binding in production (8 answers of ~1 s each allow ~8 new tasks/s, four times that limit); under a
    # burst it keeps new tasks from crowding finished ones out of the HTTP and database pools, so a result
    # that is ready is delivered at once rather than after the whole burst (16 already let p99 reach 0.76 s).
    submit_concurrency: int = 8


@dataclass
class Pipeline:
    """The collaborators. Built once by the composition root; shared by launch, driver, worker, callbacks."""

    db: RawDb
    ledger: Ledger
    catalog: Catalog
    gateway: KieGateway
    limiter: TaskLimiter
    free_tier: FreeTier
    delivery: DeliveryPort
    alerts: AlertPort
    store: ResultStore
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    free_model_ids: frozenset[str] = frozenset()
    markup_for: Callable[[str], Decimal | None] = lambda _model_id: None
    clock: Callable[[], datetime] = utcnow
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    repo: GenerationRepo = field(default_factory=GenerationRepo)
    # Crash tests set this to raise at a named point ("before_submit", "after_create", "after_success",
    # "after_download", "after_delivery"); production leaves it unset.
    checkpoint_hook: Callable[[str], None] | None = None
    submit_gate: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.submit_gate = asyncio.Semaphore(self.settings.submit_concurrency)

    def checkpoint(self, name: str) -> None:
        if self.checkpoint_hook is not None:
            self.checkpoint_hook(name)

    def now(self) -> datetime:
        return self.clock()

    def lease_until(self) -> datetime:
        return self.now() + timedelta(seconds=self.settings.lease_seconds)

    @property
    def uses_callbacks(self) -> bool:
        return bool(self.settings.callback_base_url)


def next_poll_delay(elapsed_s: float, typical_s: float, *, minimum: float = 3.0, maximum: float = 30.0) -> float:
    """Seconds until the next status check of a running task.

    First check near half the model's typical time, then every ~45% of the time already spent (at least
    3 s, at most 30 s): a 20-second image is seen within ~3 s of finishing, a 60-second video in six checks.
    """
    if elapsed_s <= 0:
        return max(minimum, min(maximum, typical_s * 0.5))
    return max(minimum, min(maximum, elapsed_s * 0.45))
