"""Packs from settings: conversion, custom amounts typed by people, and how settings price an old invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aistudio.config import Settings, load_settings
from aistudio.payments.packs import (
    CUSTOM,
    STARS,
    YOOKASSA,
    AmountError,
    offered_pack,
    pack_now,
    parse_custom_amount,
    rub_packs,
    stars_credit_kopecks,
    stars_limits,
    stars_pack,
    stars_packs,
)


def settings(**overrides: object) -> Settings:
    return load_settings(database_url="sqlite+aiosqlite:///:memory:", **overrides)


def test_stars_convert_at_the_rate_rounded_down_to_the_kopeck() -> None:
    odd = settings(stars_rub_per_star=Decimal("1.333"))
    assert stars_credit_kopecks(settings(), 7) == 910  # 7 × 1.3 ₽
    assert stars_credit_kopecks(odd, 1) == 133  # 1.333 ₽ → 1.33 ₽, never rounded up
    assert stars_credit_kopecks(odd, 3) == 399


def test_packs_come_from_settings_in_order() -> None:
    s = settings(stars_packs="25, 75", yookassa_packs_rub="200,700")
    assert [(p.code, p.amount, p.credit_kopecks, p.currency) for p in stars_packs(s)] == [
        ("25", 25, 3250, "XTR"),
        ("75", 75, 9750, "XTR"),
    ]
    assert [(p.code, p.amount, p.credit_kopecks, p.currency) for p in rub_packs(s)] == [
        ("200", 200_00, 200_00, "RUB"),
        ("700", 700_00, 700_00, "RUB"),
    ]


def test_a_pack_no_longer_offered_is_none() -> None:
    s = settings(stars_packs="50,100")
    assert offered_pack(s, STARS, 100) == stars_pack(s, 100)
    assert offered_pack(s, STARS, 250) is None
    assert offered_pack(s, YOOKASSA, 100) is None  # no provider token: no card packs
    assert offered_pack(settings(yookassa_provider_token="t"), YOOKASSA, 100) is not None


@pytest.mark.parametrize(
    ("typed", "value"), [("500", 500), ("1 000", 1000), ("750 ₽", 750), ("⭐ 250", 250), ("300 руб.", 300)]
)
def test_custom_amounts_people_type_are_read(typed: str, value: int) -> None:
    assert parse_custom_amount(typed, 50, 10000) == value


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("lots", "not_a_number"), ("-5", "not_a_number"), ("1.5", "not_a_number"), ("", "not_a_number"),
     ("10", "too_small"), ("10001", "too_large"), ("99999999999", "not_a_number")],
)  # fmt: skip
def test_bad_custom_amounts_say_why(typed: str, reason: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_custom_amount(typed, 50, 10000)
    assert (caught.value.reason, caught.value.low, caught.value.high) == (reason, 50, 10000)


def test_custom_stars_never_exceed_what_telegram_accepts() -> None:
    assert stars_limits(settings(stars_custom_max=50000)) == (50, 10000)


def test_an_old_invoice_is_priced_by_todays_settings() -> None:
    s = settings()
    assert pack_now(s, STARS, "100", 100) == stars_pack(s, 100)
    assert pack_now(s, STARS, CUSTOM, 777) == stars_pack(s, 777, custom=True)
    repriced = settings(stars_rub_per_star=Decimal("1.5"))
    assert pack_now(repriced, STARS, "100", 100).credit_kopecks == 150_00  # differs from the 130 ₽ invoiced
    assert pack_now(settings(stars_packs="50"), STARS, "100", 100) is None  # pack withdrawn
    assert pack_now(s, STARS, "100", 99) is None  # code and amount disagree
    assert pack_now(settings(stars_custom_min=1000), STARS, CUSTOM, 777) is None
    card = settings(yookassa_provider_token="t")
    assert pack_now(card, YOOKASSA, "300", 300_00).credit_kopecks == 300_00
    assert pack_now(card, YOOKASSA, CUSTOM, 1234_50) is None  # whole roubles only
    assert pack_now(s, YOOKASSA, "300", 300_00) is None  # card payments switched off since
