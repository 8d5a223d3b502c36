"""The exchange rate: CBR over real HTTP (a local server answering like cbr.ru), bounds and fallbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.pricing.fx import FxService, parse_cbr_daily


def cbr_xml(usd: str, nominal: str = "1") -> bytes:
    body = (
        '<?xml version="1.0" encoding="windows-1251"?>'
        '<ValCurs Date="21.11.2026" name="Foreign Currency Market">'
        '<Valute ID="R01010"><NumCode>036</NumCode><CharCode>AUD</CharCode><Nominal>1</Nominal>'
        "<Name>Австралийский доллар</Name><Value>60,1234</Value></Valute>"
        f'<Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>{nominal}</Nominal>'
        f"<Name>Доллар США</Name><Value>{usd}</Value></Valute></ValCurs>"
    )
    return body.encode("cp1251")


class FakeCbr:
    def __init__(self) -> None:
        self.body = cbr_xml("92,5050")
        self.status = 200
        self.hits = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=self.body, status=self.status, content_type="application/xml")


@pytest.fixture
async def cbr() -> AsyncIterator[tuple[FakeCbr, str]]:
    fake = FakeCbr()
    app = web.Application()
    app.router.add_get("/scripts/XML_daily.asp", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/scripts/XML_daily.asp"))
    await server.close()


def test_parse_reads_usd_with_decimal_comma_and_nominal() -> None:
    assert parse_cbr_daily(cbr_xml("92,5050")) == Decimal("92.5050")
    assert parse_cbr_daily(cbr_xml("925,05", nominal="10")) == Decimal("92.505")


async def test_rate_is_fetched_once_a_day(engine: AsyncEngine, cbr: tuple[FakeCbr, str]) -> None:
    fake, url = cbr
    fx = FxService(engine, source_url=url, fallback=Decimal("95"), today=lambda: date(2026, 11, 21))

    first = await fx.current()
    second = await fx.current()

    assert (first.rub_per_usd, first.source) == (Decimal("92.5050"), "cbr")
    assert second == first and fake.hits == 1


async def test_out_of_bounds_rate_falls_back_to_last_good(engine: AsyncEngine, cbr: tuple[FakeCbr, str]) -> None:
    fake, url = cbr
    day = [date(2026, 11, 20)]
    fx = FxService(engine, source_url=url, fallback=Decimal("95"), today=lambda: day[0])
    await fx.current()  # stores 92.505 as the last good rate
    fake.body = cbr_xml("9250,00")  # a broken feed: 9250 RUB per USD
    day[0] = date(2026, 11, 21)
    fresh = FxService(engine, source_url=url, fallback=Decimal("95"), today=lambda: day[0])

    rate = await fresh.current()

    assert (rate.rub_per_usd, rate.source, rate.rate_date) == (
        Decimal("92.5050"),
        "last_good",
        date(2026, 11, 20),
    )


async def test_unreachable_feed_without_history_uses_the_constant(engine: AsyncEngine) -> None:
    fx = FxService(
        engine, source_url="http://127.0.0.1:9/unreachable", fallback=Decimal("97.5"),
        http=httpx.AsyncClient(timeout=0.5),
    )  # fmt: skip

    rate = await fx.current()

    assert (rate.rub_per_usd, rate.source) == (Decimal("97.5"), "fallback")


async def test_server_error_is_not_retried_on_every_price(engine: AsyncEngine, cbr: tuple[FakeCbr, str]) -> None:
    fake, url = cbr
    fake.status = 503
    fx = FxService(engine, source_url=url, fallback=Decimal("95"))

    rates = [await fx.current() for _ in range(5)]

    assert {r.source for r in rates} == {"fallback"} and fake.hits == 1


async def test_while_the_feed_fails_prices_do_not_read_the_database_each_time(
    engine: AsyncEngine, cbr: tuple[FakeCbr, str]
) -> None:
    fake, url = cbr
    fake.status = 503
    fx = FxService(engine, source_url=url, fallback=Decimal("95"))
    first = await fx.current()
    reads = 0

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(*_: object) -> None:
        nonlocal reads
        reads += 1

    later = [await fx.current() for _ in range(5)]

    assert later == [first] * 5 and reads == 0
