"""The web dashboard at `/admin`: sign-in by a one-time link from `/web`, pages, forms, CSV exports.

Everything lives on a sub-application mounted at `/admin`, so its guard (session, ADMIN_IDS, CSRF; see
`site.py`) sits in front of every route of the dashboard and of nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from aiohttp import web

from aistudio.db.sql import utcnow
from aistudio.telegram.services import BotServices
from aistudio.web.admin import actions, pages
from aistudio.web.admin.site import STATIC, AdminSite, guard

Page = Callable[[AdminSite, web.Request], Awaitable[web.StreamResponse]]

# (method, path under /admin, handler): the one list of the dashboard's routes (tests walk it).
ROUTES: list[tuple[str, str, Page]] = [
    ("GET", "/login", actions.login),
    ("POST", "/logout", actions.logout),
    ("GET", "/", pages.overview),
    ("GET", "/users", pages.users_page),
    ("GET", "/users/{user_id}", pages.user_page),
    ("GET", "/generations", pages.generations_page),
    ("GET", "/generations/{ref}", pages.generation_page),
    ("GET", "/payments", pages.payments_page),
    ("GET", "/audit", pages.audit_page),
    ("GET", "/models", actions.models_page),
    ("POST", "/models/toggle", actions.model_toggle),
    ("POST", "/models/markup", actions.model_markup),
    ("GET", "/export/generations.csv", actions.export_generations),
    ("GET", "/export/errors.csv", actions.export_errors),
    ("GET", "/export/payments.csv", actions.export_payments),
]


def add_admin_routes(
    app: web.Application, services: BotServices, *, clock: Callable[[], datetime] = utcnow
) -> AdminSite:
    """Mount the dashboard on `app` at `/admin` (and `/admin` itself redirects to `/admin/`)."""
    site = AdminSite(services, clock=clock)
    admin = web.Application(middlewares=[guard(site)])
    for method, path, handler in ROUTES:
        admin.router.add_route(method, path, partial(handler, site))
    admin.router.add_static("/static/", STATIC, append_version=False)

    async def to_overview(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/admin/")

    app.router.add_get("/admin", to_overview)  # before the sub-application, which would answer 404
    app.add_subapp("/admin", admin)
    return site
