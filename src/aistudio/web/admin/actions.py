"""Sign-in and sign-out, the models page and its two forms (switch on/off, markup), and the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from aistudio.admin.models import model_rows
from aistudio.admin.overrides import InvalidMarkup, parse_markup
from aistudio.db.sql import as_utc
from aistudio.db.tables import generations, payments
from aistudio.web.admin.auth import COOKIE_NAME, AdminSession, LoginRefused, end_session, redeem_login_token
from aistudio.web.admin.queries import GENERATION_COLUMNS, PAYMENT_COLUMNS, GenerationFilter, PaymentFilter, iter_rows
from aistudio.web.admin.site import ADMIN, LANG, AdminSite


async def login(site: AdminSite, request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not token:
        return site.message(request, "login.needed_title", "login.needed", status=401)
    settings = site.services.settings
    outcome = await redeem_login_token(
        site.engine, token, admin_ids=settings.admin_ids, session_hours=settings.admin_session_hours, now=site.clock()
    )
    if isinstance(outcome, LoginRefused):
        return site.message(request, "login.refused_title", f"login.{outcome.value}", status=403)
    request[LANG] = await site.language_of(outcome.admin_id)
    # A page that moves on by itself rather than a redirect: a SameSite=Strict cookie set while following a
    # link from another site (Telegram) is not sent on that navigation's redirects, only on the next one.
    response = site.render(request, "signed_in.html")
    response.set_cookie(
        COOKIE_NAME, outcome.cookie, path="/admin", httponly=True, samesite="Strict", secure=site.secure_cookie,
        max_age=int(settings.admin_session_hours * 3600),
    )  # fmt: skip
    return response


async def logout(site: AdminSite, request: web.Request) -> web.Response:
    await end_session(site.engine, request.cookies.get(COOKIE_NAME))
    request[ADMIN] = None
    response = site.message(request, "login.needed_title", "login.logged_out", status=200)
    response.del_cookie(COOKIE_NAME, path="/admin")
    return response


async def models_page(site: AdminSite, request: web.Request, *, notice: str | None = None, status: int = 200):
    overrides = site.services.overrides
    rows = await model_rows(site.engine, site.services.catalog, site.services.settings.markup) if overrides else []
    return site.render(request, "models.html", rows=rows, notice=notice, status=status)


async def model_toggle(site: AdminSite, request: web.Request) -> web.Response:
    form = await request.post()
    model_id, session = str(form.get("model_id", "")), _session(request)
    if model_id not in site.services.catalog or site.services.overrides is None:
        return site.message(request, "forbidden_title", "not_found", status=404)
    await site.services.overrides.set_enabled(model_id, form.get("enabled") == "1", admin_id=session.admin_id)
    raise web.HTTPSeeOther("/admin/models#" + model_id)


async def model_markup(site: AdminSite, request: web.Request) -> web.Response:
    form = await request.post()
    model_id, session = str(form.get("model_id", "")), _session(request)
    if model_id not in site.services.catalog or site.services.overrides is None:
        return site.message(request, "forbidden_title", "not_found", status=404)
    raw = str(form.get("markup", "")).strip()
    try:
        markup = parse_markup(raw) if raw else None
    except InvalidMarkup:
        notice = site.services.t("admin_web.models.bad_markup", request.get(LANG, "ru"))
        return await models_page(site, request, notice=notice, status=400)
    await site.services.overrides.set_markup(model_id, markup, admin_id=session.admin_id)
    raise web.HTTPSeeOther("/admin/models#" + model_id)


def _session(request: web.Request) -> AdminSession:
    session = request[ADMIN]
    assert session is not None  # the guard let the request in
    return session


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (as_utc(value) or value).isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    text = str(value)
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection): quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


async def _stream_csv(request: web.Request, name: str, header: tuple[str, ...], rows: Any) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    count = 0
    async for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
        if count % 500 == 0:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


async def export_generations(site: AdminSite, request: web.Request) -> web.StreamResponse:
    where = GenerationFilter.parse(request.query).conditions()
    rows = iter_rows(site.engine, generations, GENERATION_COLUMNS, where)
    return await _stream_csv(request, "generations.csv", GENERATION_COLUMNS, rows)


async def export_errors(site: AdminSite, request: web.Request) -> web.StreamResponse:
    where = [*GenerationFilter.parse(request.query).conditions(), generations.c.state == "failed"]
    rows = iter_rows(site.engine, generations, GENERATION_COLUMNS, where)
    return await _stream_csv(request, "errors.csv", GENERATION_COLUMNS, rows)


async def export_payments(site: AdminSite, request: web.Request) -> web.StreamResponse:
    where = PaymentFilter.parse(request.query).conditions()
    rows = iter_rows(site.engine, payments, PAYMENT_COLUMNS, where)
    return await _stream_csv(request, "payments.csv", PAYMENT_COLUMNS, rows)
