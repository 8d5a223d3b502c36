"""The admin's /newpromo syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aistudio.growth.promo import InvalidPromo, PromoKind
from aistudio.growth.promo_spec import parse_promo_spec


def test_fixed_with_limits() -> None:
    spec = parse_promo_spec("spring fixed 99.5 uses=10 expires=2030-12-31")

    assert (spec.code, spec.kind, spec.amount_kopecks, spec.max_uses) == ("SPRING", PromoKind.FIXED, 9_950, 10)
    assert spec.expires_at == datetime(2031, 1, 1, tzinfo=UTC)


def test_percent_without_limits() -> None:
    spec = parse_promo_spec("BONUS20 percent 20")

    assert (spec.kind, spec.percent, spec.max_uses, spec.expires_at) == (PromoKind.PERCENT, 20, None, None)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (None, "usage"),
        ("CODE fixed", "usage"),
        ("CODE fixed 10 colour=red", "usage"),
        ("C! fixed 10", "bad_code"),
        ("CODE gift 10", "bad_kind"),
        ("CODE fixed -5", "bad_amount"),
        ("CODE fixed 0.001", "bad_amount"),
        ("CODE fixed NaN", "bad_amount"),
        ("CODE fixed abc", "bad_amount"),
        ("CODE percent 0", "bad_percent"),
        ("CODE percent 150", "bad_percent"),
        ("CODE fixed 10 uses=0", "bad_uses"),
        ("CODE fixed 10 expires=31.12.2030", "bad_expires"),
    ],
)
def test_invalid_specs_name_the_problem(args: str | None, reason: str) -> None:
    with pytest.raises(InvalidPromo) as error:
        parse_promo_spec(args)

    assert error.value.reason == reason
