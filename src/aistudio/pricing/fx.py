"""Roubles per US dollar from the Central Bank of Russia's daily rates, with bounds and fallbacks.

Order of preference: today's rate already fetched (memory) → the CBR answer → the last good rate stored in
the database → the configured constant. A rate outside [50, 200] is treated as no answer: a bad feed must
never reprice the whole catalog. The source used is reported with the value and stored on each generation.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import fx_rates

log = logging.getLogger(__name__)

MIN_RATE = Decimal(50)
MAX_RATE = Decimal(200)
USD_CBR_ID = "R01235"
RETRY_AFTER_FAILURE_S = 600.0


@dataclass(frozen=True)
class FxRate:
    rub_per_usd: Decimal
    source: str  # cbr | last_good | fallback
    rate_date: date | None


class FxUnavailable(Exception):
    pass


def parse_cbr_daily(body: bytes) -> Decimal:
    """The USD rate from CBR's XML_daily answer (windows-1251 XML, decimal comma, per `Nominal` units)."""
    text = body.decode("cp1251", errors="replace")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FxUnavailable(f"not XML: {exc}") from None
    for valute in root.iter("Valute"):
        if valute.get("ID") == USD_CBR_ID or valute.findtext("CharCode") == "USD":
            try:
                value = Decimal((valute.findtext("Value") or "").replace(",", "."))
                nominal = Decimal(valute.findtext("Nominal") or "1")
            except InvalidOperation:
                raise FxUnavailable("USD value is not a number") from None
            return value / nominal
    raise FxUnavailable("no USD in the answer")


class FxService:
    """Gives the rate to price with; one network fetch a day at most, never raises."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        source_url: str,
        fallback: Decimal,
        http: httpx.AsyncClient | None = None,
        today: Callable[[], date] = lambda: utcnow().date(),
    ) -> None:
        self._engine = engine
        self._url = source_url
        self._fallback = fallback
        self._http = http
        self._today = today
        self._cached: FxRate | None = None
        self._failed_at: float | None = None
        self._degraded: FxRate | None = None  # the stored or fallback rate in use while the feed is failing

    async def current(self) -> FxRate:
        today = self._today()
        if self._cached and self._cached.rate_date == today and self._cached.source == "cbr":
            return self._cached
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
            # Don't ask a failing feed, nor the database, on every price shown: the stored rate can't change
            # in the meantime (only a successful fetch stores one).
            if self._degraded is None:
                self._degraded = await self._last_good_or_fallback()
            return self._degraded
        try:
            value = await self._fetch()
        except (FxUnavailable, httpx.HTTPError) as exc:
            log.warning("fx: CBR rate unavailable (%s); using a stored or fallback rate", exc)
            self._failed_at = time.monotonic()
            self._degraded = await self._last_good_or_fallback()
            return self._degraded
        if not MIN_RATE <= value <= MAX_RATE:
            log.error("fx: CBR rate %s outside [%s, %s] rejected", value, MIN_RATE, MAX_RATE)
            self._failed_at = time.monotonic()
            self._degraded = await self._last_good_or_fallback()
            return self._degraded
        self._failed_at = None
        self._degraded = None
        await self._store(today, value)
        self._cached = FxRate(value, "cbr", today)
        return self._cached

    async def _fetch(self) -> Decimal:
        client = self._http or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(self._url)
            response.raise_for_status()
            return parse_cbr_daily(response.content)
        finally:
            if self._http is None:
                await client.aclose()

    async def _store(self, day: date, value: Decimal) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, fx_rates, ["rate_date"]).values(
                    rate_date=day.isoformat(), rub_per_usd=value, source="cbr", fetched_at=utcnow()
                )
            )

    async def _last_good_or_fallback(self) -> FxRate:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(fx_rates).order_by(fx_rates.c.rate_date.desc()).limit(1))).first()
        if row is not None and MIN_RATE <= Decimal(row.rub_per_usd) <= MAX_RATE:
            return FxRate(Decimal(row.rub_per_usd), "last_good", datetime.fromisoformat(row.rate_date).date())
        return FxRate(self._fallback, "fallback", None)
