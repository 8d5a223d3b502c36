"""Rouble prices: exact decimal arithmetic, rounded up to the kopeck."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aistudio.catalog.models import PricingRule
from aistudio.pricing.price import format_rub, kopecks_for_credits

D = Decimal


@pytest.mark.parametrize(
    ("credits", "fx", "markup", "kopecks"),
    [
        (D("4"), D("95"), D("2"), 380),  # 4 × 0.005 × 95 × 2 = 3.80 ₽
        (D("0.8"), D("92.5050"), D("2"), 75),  # 0.740040 ₽ → 75 kopecks (rounded up)
        (D("1"), D("100"), D("1.5"), 75),
        (D("18"), D("92.1234"), D("2.25"), 1866),  # 18.6549885 ₽ → 1866
    ],
)
def test_price_is_ceiled_to_the_kopeck(credits: Decimal, fx: Decimal, markup: Decimal, kopecks: int) -> None:
    assert kopecks_for_credits(credits, usd_per_credit=D("0.005"), fx_rub_per_usd=fx, markup=markup) == kopecks


def test_rule_table_with_wildcard_and_per_second() -> None:
    rule = PricingRule(by=["resolution"], table={"480p": D(3), "*": D(12)}, per=["duration"])

    assert rule.credits({"resolution": "480p", "duration": "5"}) == D(15)
    assert rule.credits({"resolution": "720p", "duration": "10s"}) == D(120)


def test_rule_per_thousand_characters_counts_started_blocks() -> None:
    rule = PricingRule(base=D(12), per_chars={"field": "text", "unit": 1000})

    assert rule.credits({"text": "x" * 1000}) == D(12)
    assert rule.credits({"text": "x" * 1001}) == D(24)
    assert rule.credits({"text": ""}) == D(12)


def test_rule_without_a_match_or_base_refuses_to_guess() -> None:
    rule = PricingRule(by=["resolution"], table={"480p": D(3)})

    with pytest.raises(ValueError, match="no price"):
        rule.credits({"resolution": "1080p"})


def test_format_rub() -> None:
    assert [format_rub(k) for k in (380, 1200, 5, -250)] == ["3.80", "12", "0.05", "-2.50"]
