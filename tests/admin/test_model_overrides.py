"""Per-model overrides: switched off or re-priced on every replica without a restart, audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.audit import recent
from aistudio.admin.models import day_start, model_rows, today_stats
from aistudio.admin.overrides import InvalidMarkup, LiveCatalog, ModelOverrides, parse_markup
from aistudio.billing.ledger import Ledger
from aistudio.catalog.loader import load_catalog
from aistudio.generation.context import PipelineSettings
from aistudio.generation.launch import LaunchRefused, price_offer
from aistudio.pricing.fx import FxRate
from tests.admin.admin_rows import add_generation
from tests.support import make_user

MODEL = "grok-imagine/text-to-image"  # 4 credits: 3.80 ₽ at 95 ₽/$ and markup 2


def offer_pipeline(catalog: LiveCatalog, overrides: ModelOverrides) -> SimpleNamespace:
    """What `price_offer` reads of the pipeline."""
    return SimpleNamespace(
        catalog=catalog, settings=PipelineSettings(), markup_for=overrides.markup_for, free_model_ids=frozenset()
    )


FX = FxRate(Decimal(95), "fallback", None)


async def test_a_switch_reaches_every_replica_at_its_next_refresh(engine: AsyncEngine) -> None:
    shipped = load_catalog()
    here, there = ModelOverrides(engine), ModelOverrides(engine)
    here_catalog, there_catalog = LiveCatalog(shipped, here), LiveCatalog(shipped, there)
    await there.refresh()

    assert await here.set_enabled(MODEL, False, admin_id=1)

    assert MODEL not in {m.id for m in here_catalog.visible()}  # where the admin pressed: at once
    assert not here_catalog.get(MODEL).enabled and here_catalog.get(MODEL).disabled_reason
    assert MODEL in {m.id for m in there_catalog.visible()}  # another replica: until its refresh
    await there.refresh()
    assert MODEL not in {m.id for m in there_catalog.search("grok imagine", "en")}
    with pytest.raises(LaunchRefused) as refused:
        price_offer(offer_pipeline(there_catalog, there), MODEL, {"prompt": "x"}, FX)  # type: ignore[arg-type]
    assert refused.value.reason == "model_unavailable"
    assert shipped.get(MODEL).enabled  # the shared, shipped catalog is never touched

    assert await here.set_enabled(MODEL, True, admin_id=1)
    await there.refresh()
    assert MODEL in {m.id for m in there_catalog.visible()}


async def test_a_markup_prices_at_once_and_resets_to_the_setting(engine: AsyncEngine) -> None:
    overrides = ModelOverrides(engine)
    catalog = LiveCatalog(load_catalog(), overrides)
    pipeline = offer_pipeline(catalog, overrides)

    def price() -> int:
        return price_offer(pipeline, MODEL, {"prompt": "x"}, FX).quote.kopecks  # type: ignore[arg-type]

    assert price() == 380
    assert await overrides.set_markup(MODEL, Decimal("3"), admin_id=2)
    assert not await overrides.set_markup(MODEL, Decimal("3.0"), admin_id=2)  # unchanged: no audit row
    assert price() == 570 and overrides.markup_for(MODEL) == Decimal(3)
    assert await overrides.set_markup(MODEL, None, admin_id=2)
    assert price() == 380

    entries = await recent(engine, limit=5)
    assert [(e.action, e.before["markup"], e.after["markup"]) for e in entries] == [
        ("model.markup", "3", None), ("model.markup", None, "3"),
    ]  # fmt: skip


async def test_an_override_never_enables_a_model_the_catalog_disables(engine: AsyncEngine) -> None:
    shipped = load_catalog()
    disabled = next(m for m in shipped if not m.enabled)
    overrides = ModelOverrides(engine)
    catalog = LiveCatalog(shipped, overrides)

    await overrides.set_enabled(disabled.id, True, admin_id=1)

    assert not catalog.get(disabled.id).enabled and disabled.id not in {m.id for m in catalog.visible()}
    rows = {r.model_id: r for r in await model_rows(engine, catalog, Decimal(2))}
    assert rows[disabled.id].catalog_reason == disabled.disabled_reason and not rows[disabled.id].enabled


@pytest.mark.parametrize("text", ["2.5", "2,5", "×3", "0.0001", "100"])
def test_valid_markups(text: str) -> None:
    assert parse_markup(text) > 0


@pytest.mark.parametrize("text", ["0", "-1", "100.5", "abc", "", "1.00001", "nan", "inf"])
def test_invalid_markups(text: str) -> None:
    with pytest.raises(InvalidMarkup):
        parse_markup(text)


async def test_the_model_list_shows_todays_success_rate_and_median_time(engine: AsyncEngine) -> None:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    user = await make_user(engine, ledger, 1)
    # Launched an hour into today, whatever the time now: five minutes ago is yesterday just after midnight.
    at = day_start() + timedelta(hours=1)
    for n, seconds in enumerate((10, 20, 60)):
        await add_generation(
            engine, request_id=f"RQ-OK{n}AAAAA", user_id=user, model_id=MODEL, seconds=seconds, created_at=at
        )
    await add_generation(
        engine, request_id="RQ-BAD2AAAA", user_id=user, model_id=MODEL, state="failed", error_class="x", created_at=at
    )
    await add_generation(
        engine, request_id="RQ-RUN2AAAA", user_id=user, model_id=MODEL, state="submitted", created_at=at
    )
    overrides = ModelOverrides(engine)
    await overrides.set_markup(MODEL, Decimal("2.5"), admin_id=1)
    await overrides.set_enabled(MODEL, False, admin_id=1)

    stats = (await today_stats(engine, now=at + timedelta(hours=1)))[MODEL]
    row = next(
        r for r in await model_rows(engine, LiveCatalog(load_catalog(), overrides), Decimal(2)) if r.model_id == MODEL
    )

    assert (stats.finished, stats.completed, stats.success_rate, stats.median_seconds) == (4, 3, 0.75, 20.0)
    assert (row.enabled, row.switched_off, row.markup, row.markup_overridden) == (False, True, Decimal("2.5"), True)
