"""What handlers may use: the domain services, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.overrides import ModelOverrides
from aistudio.billing.ledger import Ledger
from aistudio.catalog.loader import Catalog
from aistudio.config import Settings
from aistudio.db.sql import utcnow
from aistudio.generation.service import GenerationService
from aistudio.i18n import Translator
from aistudio.kie.client import KieClient
from aistudio.ops.state import RunState
from aistudio.payments.topups import TopupService
from aistudio.pricing.fx import FxService


@dataclass
class BotServices:
    settings: Settings
    engine: AsyncEngine
    ledger: Ledger
    catalog: Catalog
    generations: GenerationService
    fx: FxService
    t: Translator
    free_model_ids: frozenset[str]
    kie: KieClient  # for uploading users' files to Kie's file host
    topups: TopupService  # every paid top-up is credited through it, exactly once
    bot: Bot  # for work outside an update (notifying a referrer, an admin, a broadcast)
    overrides: ModelOverrides | None = None  # the admin's per-model switches (enabled, markup)
    run_state: RunState | None = None  # the run mode, for the admin's /version
    started_at: datetime = field(default_factory=utcnow)

    @property
    def start_bonus_kopecks(self) -> int:
        return int(self.settings.start_bonus_rub * Decimal(100))
