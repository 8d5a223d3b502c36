"""What every dashboard page shares: the services, the clock, templates, the guard in front of each route.

The guard (an aiohttp middleware on the `/admin` sub-application) lets only the login page and the stylesheet
through without a session. Without a live session a GET is sent to the sign-in page and a POST is refused
(403); with one, every POST must carry the session's CSRF token in its `csrf` field (else 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from aiohttp import web

from aistudio.db.sql import utcnow
from aistudio.db.tables import users
from aistudio.i18n import DEFAULT_LANGUAGE
from aistudio.telegram.services import BotServices
from aistudio.web.admin.auth import COOKIE_NAME, AdminSession, load_session

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
PUBLIC_PATHS = ("/admin/login", "/admin/static/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN = web.RequestKey("admin", AdminSession | None)  # the signed-in session
LANG = web.RequestKey("lang", str)  # the admin's language


def rub(kopecks: int | None) -> str:
    value = Decimal(kopecks or 0) / 100
    return f"{value:,.2f}".replace(",", "\u202f") + " ₽"


def number(value: Decimal | int | None) -> str:
    """Credits without an exponent (Decimal 2000 normalizes to 2E+3)."""
    return f"{Decimal(value or 0).normalize():f}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def admin_base_url(services: BotServices) -> str:
    """Where `/web` links point: ADMIN_WEB_BASE_URL, else WEBHOOK_BASE_URL, else the local web server."""
    s = services.settings
    return (s.admin_web_base_url or s.webhook_base_url or f"http://{s.web_host}:{s.web_port}").rstrip("/")


@dataclass
class AdminSite:
    services: BotServices
    clock: Callable[[], datetime] = utcnow
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
        )
        self.env.filters["rub"] = rub
        self.env.filters["when"] = when
        self.env.filters["number"] = number

    @property
    def engine(self) -> Any:
        return self.services.engine

    @property
    def secure_cookie(self) -> bool:
        return admin_base_url(self.services).startswith("https://")

    async def language_of(self, admin_id: int) -> str:
        async with self.engine.connect() as conn:
            lang = (await conn.execute(sa.select(users.c.language).where(users.c.id == admin_id))).scalar()
        return lang if lang in ("ru", "en") else DEFAULT_LANGUAGE

    def render(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        lang = request.get(LANG, DEFAULT_LANGUAGE)
        session: AdminSession | None = request.get(ADMIN)
        html = self.env.get_template(template).render(
            _=lambda key, **params: self.services.t(f"admin_web.{key}", lang, **params),
            lang=lang, session=session, csrf=session.csrf_token if session else "", path=request.path, **context,
        )  # fmt: skip
        response = web.Response(text=html, content_type="text/html", status=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def message(self, request: web.Request, title_key: str, text_key: str, *, status: int) -> web.Response:
        t = self.services.t
        lang = request.get(LANG, DEFAULT_LANGUAGE)
        return self.render(
            request, "message.html", status=status, title=t(f"admin_web.{title_key}", lang),
            text=t(f"admin_web.{text_key}", lang),
        )  # fmt: skip


def guard(site: AdminSite) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PUBLIC_PATHS):
            return await handler(request)
        session = await load_session(
            site.engine, request.cookies.get(COOKIE_NAME), admin_ids=site.services.settings.admin_ids, now=site.clock()
        )
        if session is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPSeeOther("/admin/login")
            return site.message(request, "forbidden_title", "login.needed", status=403)
        request[ADMIN] = session
        request[LANG] = await site.language_of(session.admin_id)
        if request.method == "POST":
            form = await request.post()
            submitted = form.get("csrf")
            if not session.csrf_ok(submitted if isinstance(submitted, str) else None):
                return site.message(request, "forbidden_title", "forbidden", status=403)
        return await handler(request)

    return middleware
