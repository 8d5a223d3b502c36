"""Top-up packs: what a user can buy with Telegram Stars or with roubles through YooKassa, from settings.

A pack says what the user pays (`amount` in the currency's smallest units: whole Stars for XTR, kopecks for
RUB) and what the wallet receives (`credit_kopecks`). Stars are converted at `STARS_RUB_PER_STAR`, rounded
down to the kopeck, so the operator never credits more than the rate says. A custom amount is a pack with
the code "custom", bounded by the `*_CUSTOM_MIN/MAX` settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from aistudio.config import Settings

STARS = "stars"
YOOKASSA = "yookassa"
CUSTOM = "custom"
CURRENCIES = {STARS: "XTR", YOOKASSA: "RUB"}
# Telegram refuses a Stars invoice above this (sandbox and production alike).
MAX_STARS_PER_INVOICE = 10000


@dataclass(frozen=True)
class Pack:
    provider: str  # stars | yookassa
    code: str  # the pack's size as configured ("100"), or "custom"
    amount: int  # what the user pays, in the currency's smallest units (Stars; kopecks)
    credit_kopecks: int  # what the wallet receives

    @property
    def currency(self) -> str:
        return CURRENCIES[self.provider]

    @property
    def is_custom(self) -> bool:
        return self.code == CUSTOM

    @property
    def units(self) -> int:
        """The pack's size as the user sees it: Stars, or whole roubles."""
        return self.amount if self.provider == STARS else self.amount // 100


class AmountError(ValueError):
    """A custom amount the user typed that we can't accept; `reason` picks the message."""

    def __init__(self, reason: str, low: int, high: int) -> None:
        super().__init__(reason)
        self.reason = reason  # not_a_number | too_small | too_large
        self.low = low
        self.high = high


def yookassa_enabled(settings: Settings) -> bool:
    return settings.yookassa_provider_token is not None


def stars_credit_kopecks(settings: Settings, stars: int) -> int:
    """Roubles a number of Stars buys, in kopecks, rounded down."""
    kopecks = Decimal(stars) * settings.stars_rub_per_star * 100
    return int(kopecks.to_integral_value(rounding=ROUND_FLOOR))


def stars_limits(settings: Settings) -> tuple[int, int]:
    return settings.stars_custom_min, min(settings.stars_custom_max, MAX_STARS_PER_INVOICE)


def rub_limits(settings: Settings) -> tuple[int, int]:
    return settings.yookassa_custom_min_rub, settings.yookassa_custom_max_rub


def stars_pack(settings: Settings, stars: int, *, custom: bool = False) -> Pack:
    return Pack(STARS, CUSTOM if custom else str(stars), stars, stars_credit_kopecks(settings, stars))


def rub_pack(settings: Settings, rub: int, *, custom: bool = False) -> Pack:
    return Pack(YOOKASSA, CUSTOM if custom else str(rub), rub * 100, rub * 100)


def stars_packs(settings: Settings) -> list[Pack]:
    return [stars_pack(settings, n) for n in settings.stars_packs if n <= MAX_STARS_PER_INVOICE]


def rub_packs(settings: Settings) -> list[Pack]:
    return [rub_pack(settings, n) for n in settings.yookassa_packs_rub]


def offered_pack(settings: Settings, provider: str, size: int) -> Pack | None:
    """The configured pack of this size, or None when settings no longer offer it (a stale button)."""
    if provider == STARS and size in settings.stars_packs and size <= MAX_STARS_PER_INVOICE:
        return stars_pack(settings, size)
    if provider == YOOKASSA and yookassa_enabled(settings) and size in settings.yookassa_packs_rub:
        return rub_pack(settings, size)
    return None


def parse_custom_amount(text: str, low: int, high: int) -> int:
    """A whole number typed by a user ("500", "1 000", "500 ₽", "⭐ 250") within [low, high]."""
    cleaned = re.sub(r"[\s\u00a0₽⭐]|руб\.?|rub|stars?|звезд\w*", "", text.strip().lower())
    if not cleaned.isdigit() or len(cleaned) > 9:
        raise AmountError("not_a_number", low, high)
    value = int(cleaned)
    if value < low:
        raise AmountError("too_small", low, high)
    if value > high:
        raise AmountError("too_large", low, high)
    return value


def pack_now(settings: Settings, provider: str, code: str, amount: int) -> Pack | None:
    """How settings price this invoice's pack today; None when the pack is no longer offered at all.

    The pre-checkout compares it with the invoice: a pack removed, a custom amount now out of bounds or a
    changed Star rate makes an old invoice unpayable (the user asks for a fresh one) rather than honoured at
    a price the operator no longer offers.
    """
    if provider == STARS:
        if code == CUSTOM:
            low, high = stars_limits(settings)
            return stars_pack(settings, amount, custom=True) if low <= amount <= high else None
        return offered_pack(settings, STARS, amount) if code == str(amount) else None
    if provider == YOOKASSA:
        if not yookassa_enabled(settings) or amount % 100:
            return None
        rub = amount // 100
        if code == CUSTOM:
            low, high = rub_limits(settings)
            return rub_pack(settings, rub, custom=True) if low <= rub <= high else None
        return offered_pack(settings, YOOKASSA, rub) if code == str(rub) else None
    return None
