"""Catalog summaries for `aistudio catalog verify` and `aistudio catalog export` (pure functions)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import Category, Family, ModelSpec
from aistudio.pricing.price import format_rub, kopecks_for_credits


def _free_models(catalog: Catalog, size: int) -> list[ModelSpec]:
    """`aistudio.pricing.free_tier.derive_free_models`, without importing the database layer it lives beside
    (SQLAlchemy alone takes longer to import than the whole verify run); a test keeps the two equal."""
    candidates = [m for m in catalog if m.enabled and not m.hidden]
    return sorted(candidates, key=lambda m: (m.pricing.credits(m.defaults()), m.id))[:size]


def _kopecks(model: ModelSpec, *, usd_per_credit: Decimal, fx: Decimal, markup: Decimal) -> int:
    credits = model.pricing.credits(model.defaults())
    return kopecks_for_credits(credits, usd_per_credit=usd_per_credit, fx_rub_per_usd=fx, markup=markup)


def verify_report(
    catalog: Catalog, *, free_size: int, usd_per_credit: Decimal, fx: Decimal, markup: Decimal
) -> dict[str, Any]:
    visible = catalog.visible()
    per_category = Counter(m.category.value for m in visible)
    prices = [_kopecks(m, usd_per_credit=usd_per_credit, fx=fx, markup=markup) for m in visible]
    per_family = {
        f.value: {
            "total": sum(1 for m in catalog if m.family is f),
            "enabled": sum(1 for m in catalog if m.family is f and m.enabled),
        }
        for f in Family
    }
    unpriced = []
    for m in catalog:
        if not m.enabled:
            continue
        try:
            if m.pricing.credits(m.defaults()) <= 0:
                unpriced.append(m.id)
        except (ValueError, ArithmeticError):
            unpriced.append(m.id)
    return {
        "models_total": len(catalog),
        "models_enabled": len(visible),
        "market_models": per_family[Family.MARKET.value]["total"],
        "family_models": len(catalog) - per_family[Family.MARKET.value]["total"],
        "per_family": per_family,
        "enabled_without_price": unpriced,
        "disabled": sorted(m.id for m in catalog if not m.enabled),
        "disabled_reasons": {m.id: m.disabled_reason for m in catalog if not m.enabled},
        "hidden": sorted(m.id for m in catalog if m.hidden),
        "per_category": {c.value: per_category.get(c.value, 0) for c in Category},
        "missing_categories": [c.value for c in Category if per_category.get(c.value, 0) == 0],
        "free_tier": [m.id for m in _free_models(catalog, free_size)],
        "price_min_rub": format_rub(min(prices)) if prices else None,
        "price_max_rub": format_rub(max(prices)) if prices else None,
    }


def _field(f: Any) -> dict[str, Any]:
    data = {"name": f.name, "type": f.type, "required": f.required, "ask": f.ask}
    for key in (
        "enum",
        "default",
        "minimum",
        "maximum",
        "min_length",
        "max_length",
        "min_items",
        "max_items",
        "media",
    ):
        value = getattr(f, key)
        if value is not None:
            data[key] = value
    return data


def export_models(catalog: Catalog, *, usd_per_credit: Decimal, fx: Decimal, markup: Decimal) -> list[dict[str, Any]]:
    """Every model with its fields and its default price: the stable way for tools to read the catalog."""
    out = []
    for m in catalog:
        entry: dict[str, Any] = {
            "id": m.id,
            "family": m.family.value,
            "category": m.category.value,
            "enabled": m.enabled,
            "hidden": m.hidden,
            "name": m.name.model_dump(),
            "output": m.output,
            "tags": m.tags,
            "fields": [_field(f) for f in m.inputs],
        }
        if m.enabled:
            credits = m.pricing.credits(m.defaults())
            entry["default_credits"] = str(credits)
            entry["default_price_rub"] = format_rub(_kopecks(m, usd_per_credit=usd_per_credit, fx=fx, markup=markup))
        else:
            entry["disabled_reason"] = m.disabled_reason
        out.append(entry)
    return out
