"""Read-only pages: overview with charts, users and a user's card, generations, payments, the audit log."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from aiohttp import web

from aistudio.admin import audit, stats
from aistudio.admin.generations import find_generation
from aistudio.admin.users import find_users, user_card
from aistudio.db.tables import generations, payments
from aistudio.web.admin.charts import PALETTE, Series, bar_chart, horizontal_bars, line_chart
from aistudio.web.admin.queries import (
    GENERATION_COLUMNS,
    GENERATION_STATES,
    PAYMENT_COLUMNS,
    PAYMENT_PROVIDERS,
    PAYMENT_STATUSES,
    GenerationFilter,
    PaymentFilter,
    list_rows,
)
from aistudio.web.admin.site import LANG, AdminSite

CHART_DAYS = 30
LIST_LIMIT = 100


def _rub(kopecks: int) -> float:
    return round(kopecks / 100, 2)


async def overview(site: AdminSite, request: web.Request) -> web.Response:
    settings, now = site.services.settings, site.clock()
    figures, days, top = await stats.overview(site.engine, now=now, settings=settings, days=CHART_DAYS)
    lang = request.get(LANG, "ru")

    def t(key: str) -> str:
        return site.services.t(f"admin_web.overview.{key}", lang)

    labels = [d.day.strftime("%d.%m") for d in days]
    charts = {
        "revenue": bar_chart(
            t("chart_revenue"), labels,
            [Series(t("chart_revenue"), [_rub(d.revenue_kopecks) for d in days], PALETTE[0])],
        ),
        "generations": bar_chart(
            t("chart_generations"), labels,
            [
                Series(t("completed"), [d.by_state.get("completed", 0) for d in days], PALETTE[0]),
                Series(t("failed"), [d.by_state.get("failed", 0) for d in days], PALETTE[1]),
                Series(t("active"), [d.by_state.get("active", 0) for d in days], PALETTE[2]),
            ],
        ),
        "models": horizontal_bars(t("chart_models"), [(m.model_id, m.total) for m in top]),
        "margin": line_chart(
            t("chart_margin"), labels, Series(t("chart_margin"), [_rub(d.margin_kopecks) for d in days], PALETTE[3])
        ),
    }  # fmt: skip
    return site.render(request, "overview.html", d=figures, charts=charts)


async def users_page(site: AdminSite, request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()[:100]
    found = await find_users(site.engine, q, limit=50) if q else []
    return site.render(request, "users.html", q=q, found=found)


async def user_page(site: AdminSite, request: web.Request) -> web.Response:
    raw = request.match_info["user_id"]
    card = await user_card(site.engine, int(raw), recent=10) if raw.isdigit() and len(raw) < 19 else None
    if card is None:
        return site.message(request, "forbidden_title", "not_found", status=404)
    recent = await audit.recent(site.engine, limit=10, target=f"user:{card.user.id}")
    return site.render(request, "user.html", card=card, audit=recent)


async def generations_page(site: AdminSite, request: web.Request) -> web.Response:
    f = GenerationFilter.parse(request.query)
    rows = await list_rows(site.engine, generations, GENERATION_COLUMNS, f.conditions(), limit=LIST_LIMIT)
    query = urlencode(f.as_query())
    return site.render(
        request, "generations.html", f=f, rows=rows, states=GENERATION_STATES, query=query, limit=LIST_LIMIT,
        models=sorted(m.id for m in site.services.catalog),
    )  # fmt: skip


async def generation_page(site: AdminSite, request: web.Request) -> web.Response:
    details = await find_generation(site.engine, request.match_info["ref"][:32])
    if details is None:
        return site.message(request, "forbidden_title", "not_found", status=404)
    return site.render(request, "generation.html", g=details)


async def payments_page(site: AdminSite, request: web.Request) -> web.Response:
    f = PaymentFilter.parse(request.query)
    rows = await list_rows(site.engine, payments, PAYMENT_COLUMNS, f.conditions(), limit=LIST_LIMIT)
    return site.render(
        request, "payments.html", f=f, rows=rows, query=urlencode(f.as_query()), providers=PAYMENT_PROVIDERS,
        statuses=PAYMENT_STATUSES, limit=LIST_LIMIT,
    )  # fmt: skip


async def audit_page(site: AdminSite, request: web.Request) -> web.Response:
    entries = await audit.recent(site.engine, limit=200)
    return site.render(request, "audit.html", entries=entries)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def credits(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"
