"""Reading an admin's `/newpromo CODE fixed 100 [uses=N] [expires=YYYY-MM-DD]` into a code's definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from aistudio.growth.promo import InvalidPromo, PromoKind, normalize_code


@dataclass(frozen=True)
class PromoSpec:
    code: str
    kind: PromoKind
    amount_kopecks: int = 0
    percent: int = 0
    max_uses: int | None = None
    expires_at: datetime | None = None  # the first moment it no longer works


def expiry_after(day: date) -> datetime:
    """A code valid "until 2025-12-31" works through that whole day (UTC) and stops at midnight after it."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def last_valid_day(expires_at: datetime) -> date:
    """The inverse of `expiry_after`: the last day (UTC) a code works."""
    return (expires_at - timedelta(microseconds=1)).astimezone(UTC).date()


def parse_promo_spec(args: str | None) -> PromoSpec:
    """`CODE fixed|percent VALUE [uses=N] [expires=YYYY-MM-DD]`; raises InvalidPromo("usage") or a reason."""
    parts = (args or "").split()
    if len(parts) < 3:
        raise InvalidPromo("usage")
    raw_code, raw_kind, raw_value, *options = parts
    code = normalize_code(raw_code)
    if code is None:
        raise InvalidPromo("bad_code")
    try:
        kind = PromoKind(raw_kind.lower())
    except ValueError:
        raise InvalidPromo("bad_kind") from None
    max_uses: int | None = None
    expires_at: datetime | None = None
    for option in options:
        name, _, value = option.partition("=")
        if name == "uses" and value.isdigit() and int(value) >= 1:
            max_uses = int(value)
        elif name == "uses":
            raise InvalidPromo("bad_uses")
        elif name == "expires":
            try:
                expires_at = expiry_after(date.fromisoformat(value))
            except ValueError:
                raise InvalidPromo("bad_expires") from None
        else:
            raise InvalidPromo("usage")
    if kind == PromoKind.PERCENT:
        if not raw_value.isdigit() or not 1 <= int(raw_value) <= 100:
            raise InvalidPromo("bad_percent")
        return PromoSpec(code, kind, percent=int(raw_value), max_uses=max_uses, expires_at=expires_at)
    try:
        rub = Decimal(raw_value.replace(",", "."))
    except InvalidOperation:
        raise InvalidPromo("bad_amount") from None
    if not rub.is_finite():
        raise InvalidPromo("bad_amount")
    kopecks = rub * 100
    if kopecks <= 0 or kopecks != kopecks.to_integral_value() or kopecks > 10**9:
        raise InvalidPromo("bad_amount")
    return PromoSpec(code, kind, amount_kopecks=int(kopecks), max_uses=max_uses, expires_at=expires_at)
