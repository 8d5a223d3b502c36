"""The price a user pays, in integer kopecks. A pure function of the catalog rule and the inputs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from aistudio.catalog.models import ModelSpec


@dataclass(frozen=True)
class Quote:
    """What a generation costs and the figures that made the price (stored on the generation)."""

    model_id: str
    credits: Decimal
    usd_per_credit: Decimal
    fx_rub_per_usd: Decimal
    markup: Decimal
    kopecks: int

    @property
    def rub(self) -> Decimal:
        return Decimal(self.kopecks) / 100


def kopecks_for_credits(credits: Decimal, *, usd_per_credit: Decimal, fx_rub_per_usd: Decimal, markup: Decimal) -> int:
    """ceil(credits × usd_per_credit × fx × markup) in kopecks; exact decimal arithmetic, never floats."""
    roubles = Decimal(credits) * Decimal(usd_per_credit) * Decimal(fx_rub_per_usd) * Decimal(markup)
    return int((roubles * 100).to_integral_value(rounding=ROUND_CEILING))


def quote(
    model: ModelSpec,
    inputs: dict[str, Any],
    *,
    usd_per_credit: Decimal,
    fx_rub_per_usd: Decimal,
    markup: Decimal,
) -> Quote:
    """Price `model` for complete (validated) `inputs`."""
    credits = model.pricing.credits(inputs)
    return Quote(
        model_id=model.id,
        credits=credits,
        usd_per_credit=usd_per_credit,
        fx_rub_per_usd=fx_rub_per_usd,
        markup=markup,
        kopecks=kopecks_for_credits(
            credits, usd_per_credit=usd_per_credit, fx_rub_per_usd=fx_rub_per_usd, markup=markup
        ),
    )


def format_rub(kopecks: int) -> str:
    """1234 → "12.34", 1200 → "12"; the ₽ sign and wording belong to the locale files."""
    whole, rest = divmod(abs(kopecks), 100)
    sign = "-" if kopecks < 0 else ""
    return f"{sign}{whole}" if rest == 0 else f"{sign}{whole}.{rest:02d}"
